import { Command } from 'commander';
import { integerIn } from '../../api/params.ts';
import { ExitCode, ZddError } from '../../errors.ts';
import { pathFor } from '../../api/contract.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';
import { ProgressPrinter } from '../progress.ts';

export function rollbackCommand(): Command {
  return withRemote(withCommonOptions(new Command('rollback')))
    .description('go back to the previous release: instant while it is still warm, otherwise a blue-green deploy of it')
    .argument('<service>', 'service name from zdd.yaml')
    .option('--to <release>', 'release number to go back to (default: the one live before this one)')
    .action(async (service: string, o: CommonOptions & { to?: string }) => {
      const to = o.to === undefined ? undefined : integerIn(o.to, 1, Number.MAX_SAFE_INTEGER);
      if (o.to !== undefined && to === undefined) throw new ZddError('USAGE', `--to expects a release number (a whole number from 1), got "${o.to}"`);
      const printer = new ProgressPrinter();
      const events: unknown[] = [];
      const finished = await withClient(o, (c) =>
        c.stream('POST', pathFor('rollback', { service }), { to }, (e) => (o.json ? events.push(e) : printer.print(e))),
      );
      if (o.json) process.stdout.write(`${JSON.stringify({ ...finished, events })}\n`);
      process.exitCode = finished?.type === 'paused' ? ExitCode.waiting : finished?.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
    });
}
