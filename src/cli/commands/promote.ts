import { Command } from 'commander';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';

export function promoteCommand(): Command {
  return withRemote(withCommonOptions(new Command('promote')))
    .description('move a canary past the step it waits at')
    .argument('<service>', 'service name from zdd.yaml')
    .option('--full', 'skip the remaining steps: the new release takes all traffic')
    .action(async (service: string, o: CommonOptions & { full?: boolean }) => {
      const r = await withClient(o, (c) => c.call<{ message: string }>('promote', { service }, { body: { full: o.full === true } }));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${r.message}\n`);
    });
}
