import path from 'node:path';
import { Command } from 'commander';
import { ExitCode, ZddError } from '../../errors.ts';
import { withClient, withCommonOptions, type CommonOptions } from '../context.ts';
import { ProgressPrinter } from '../progress.ts';

interface DeployOptions extends CommonOptions {
  version?: string;
  env: string[];
  command?: string;
  cwd?: string;
  source?: string;
  gitRef?: string;
}

export function deployCommand(): Command {
  return withCommonOptions(new Command('deploy'))
    .description("create a new release from the service's config and roll it out with its strategy; waits until it is live")
    .argument('<service>', 'service name from zdd.yaml')
    .option('--version <label>', 'version label for the release (default: r<number>)')
    .option('--env <KEY=VALUE>', 'environment override, repeatable; merged over the config env', (v: string, all: string[]) => [...all, v], [])
    .option('--command <cmd>', 'command line to run instead of the configured one')
    .option('--cwd <dir>', 'working directory instead of the configured one (with a source folder: a folder inside it)')
    .option('--source <dir>', "snapshot this folder instead of the service's source")
    .option('--git-ref <ref>', 'snapshot this commit (branch, tag, sha) of the source instead of its working tree')
    .action(async (service: string, o: DeployOptions) => {
      const env: Record<string, string> = {};
      for (const pair of o.env) {
        const i = pair.indexOf('=');
        if (i <= 0) throw new ZddError('USAGE', `--env expects KEY=VALUE, got "${pair}"`);
        env[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const body = {
        version: o.version,
        env,
        command: o.command,
        cwd: o.cwd === undefined ? undefined : path.resolve(o.cwd),
        source: o.source === undefined ? undefined : path.resolve(o.source),
        gitRef: o.gitRef,
      };
      const printer = new ProgressPrinter();
      const events: unknown[] = [];
      const finished = await withClient(o, (c) =>
        c.stream('POST', `/v1/services/${encodeURIComponent(service)}/deploy`, body, (e) => (o.json ? events.push(e) : printer.print(e))),
      );
      if (o.json) process.stdout.write(`${JSON.stringify({ ...finished, events })}\n`);
      process.exitCode = finished?.type === 'paused' ? ExitCode.waiting : finished?.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
    });
}
