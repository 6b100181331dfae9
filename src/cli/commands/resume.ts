import { Command } from 'commander';
import type { PauseAnswer } from '../../api/pause.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';

export function resumeCommand(): Command {
  return withRemote(withCommonOptions(new Command('resume')))
    .description('end zdd pause: held requests go on, new ones are served again (a service not paused: no change, exit 0)')
    .argument('<service>', 'service name from zdd.yaml')
    .action(async (service: string, o: CommonOptions) => {
      const r = await withClient(o, (c) => c.call<PauseAnswer>('resume', { service }));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${r.message}\n`);
    });
}
