import { Command } from 'commander';
import type { DeployEvent } from '../../deploy/events.ts';
import { withClient, withCommonOptions, type CommonOptions } from '../context.ts';

export function abortCommand(): Command {
  return withCommonOptions(new Command('abort'))
    .description('stop the deployment in progress; all traffic goes back to the stable release')
    .argument('<service>', 'service name from zdd.yaml')
    .action(async (service: string, o: CommonOptions) => {
      const r = await withClient(o, (c) => c.post<Extract<DeployEvent, { type: 'finished' }>>(`/v1/services/${encodeURIComponent(service)}/abort`));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `deployment #${r.deployment} ${r.status}${r.reason ? `: ${r.reason}` : ''}\n`);
    });
}
