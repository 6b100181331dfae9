import { Command } from 'commander';
import type { DeployEvent } from '../../deploy/events.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';

export function abortCommand(): Command {
  return withRemote(withCommonOptions(new Command('abort')))
    .description('stop the deployment in progress; all traffic goes back to the stable release')
    .argument('<service>', 'service name from zdd.yaml')
    .action(async (service: string, o: CommonOptions) => {
      const r = await withClient(o, (c) => c.call<Extract<DeployEvent, { type: 'finished' }>>('abort', { service }));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `deployment #${r.deployment} ${r.status}${r.reason ? `: ${r.reason}` : ''}\n`);
    });
}
