import path from 'node:path';
import { Command } from 'commander';
import { ExitCode, ZddError } from '../../errors.ts';
import { pathFor, type DeployRequest } from '../../api/contract.ts';
import { withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';
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
  return withRemote(withCommonOptions(new Command('deploy')))
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
      // Remotely, folders are the daemon machine's: they must be absolute (nothing is uploaded).
      const where = (dir: string | undefined, flag: string): string | undefined => {
        if (dir === undefined || !o.url) return dir === undefined ? undefined : path.resolve(dir);
        if (!path.isAbsolute(dir)) throw new ZddError('USAGE', `${flag} names a folder on the daemon's machine when deploying through --url / ZDD_URL: give an absolute path, got "${dir}"`);
        return dir;
      };
      const body: DeployRequest = { version: o.version, env, command: o.command, cwd: where(o.cwd, '--cwd'), source: where(o.source, '--source'), gitRef: o.gitRef };
      const printer = new ProgressPrinter();
      const events: unknown[] = [];
      const finished = await withClient(o, (c) =>
        c.stream('POST', pathFor('deploy', { service }), body, (e) => (o.json ? events.push(e) : printer.print(e))),
      );
      if (o.json) process.stdout.write(`${JSON.stringify({ ...finished, events })}\n`);
      process.exitCode = finished?.type === 'paused' ? ExitCode.waiting : finished?.status === 'succeeded' ? ExitCode.ok : ExitCode.failed;
    });
}
