import { Command } from 'commander';
import { integerIn } from '../../api/params.ts';
import { ZddError } from '../../errors.ts';
import { dataDir, withCommonOptions, type CommonOptions } from '../context.ts';
import { dim } from '../format.ts';
import { lastLines, listHookLogs, listLogs, logDir, splitStamp, type InstanceLog } from '../log-files.ts';
import { LogFollower } from '../log-follow.ts';

interface LogsOptions extends CommonOptions {
  release?: string;
  instance?: string;
  lines: string;
  follow?: boolean;
  timestamps: boolean;
  build?: boolean;
}

export function logsCommand(): Command {
  return withCommonOptions(new Command('logs'), false)
    .description("what a service's instances wrote to stdout and stderr (by default: every instance of its newest release)")
    .argument('<service>', 'service name from zdd.yaml')
    .option('-r, --release <n>', 'instances of this release number')
    .option('-i, --instance <id>', 'one instance, e.g. web-r3-1')
    .option('-n, --lines <n>', 'lines per instance (older lines come from the rotated files)', '40')
    .option('-f, --follow', 'keep printing what they write, and what the instances of newer releases write, until interrupted')
    .option('--no-timestamps', 'leave out the time each line came')
    .option('--build', "what the release's install, build, release phase and smoke test printed (the newest release's, or -r N's)")
    .action((service: string, o: LogsOptions) => {
      const lines = integerIn(o.lines, 1, 1_000_000);
      if (lines === undefined) throw new ZddError('USAGE', `-n/--lines expects a whole number from 1 to 1000000, got "${o.lines}"`);
      const wanted = o.release === undefined ? undefined : integerIn(o.release, 1, Number.MAX_SAFE_INTEGER);
      if (o.release !== undefined && wanted === undefined) throw new ZddError('USAGE', `-r/--release expects a release number (a whole number from 1), got "${o.release}"`);
      const dir = logDir(dataDir(o), service);
      if (o.build) return printHookLog(dir, service, wanted, o.build && o.lines === '40' ? 1_000_000 : lines, o.timestamps);
      const files = listLogs(dir, service);
      if (files.length === 0) throw new ZddError('NO_LOGS', `no instance logs for ${service} in ${dir}`, `deploy it first: zdd deploy ${service} (an instance's log file appears with its first output)`);
      const release = wanted ?? Math.max(...files.map((f) => f.release));
      const chosen = o.instance ? files.filter((f) => f.id === o.instance) : files.filter((f) => f.release === release);
      if (chosen.length === 0) throw new ZddError('USAGE', `no logs for ${o.instance ?? `release ${release}`} of ${service}`);
      // Followed without --instance, instances that start later show too: every line needs its instance's name.
      const named = chosen.length > 1 || (o.follow === true && !o.instance);
      const print = (log: InstanceLog, line: string) => {
        const { at, text } = splitStamp(line);
        process.stdout.write(`${at && o.timestamps ? `${dim(at)} ` : ''}${named ? dim(`${log.id} │ `) : ''}${text}\n`);
      };
      const follower = o.follow
        ? new LogFollower({
            dir,
            service,
            // The release asked for (its replacements included), or the newest and every release after it.
            wants: (log) => (o.instance ? log.id === o.instance : wanted !== undefined ? log.release === wanted : log.release >= release),
            onLine: print,
            onNewFile: (log) => process.stdout.write(dim(`── ${log.id}\n`)),
          })
        : undefined;
      for (const f of chosen) {
        // Read up to where following begins: no line twice, none missed.
        const end = follower?.track(f);
        if (chosen.length > 1) process.stdout.write(dim(`── ${f.id}\n`));
        for (const line of lastLines(f.file, lines, end)) print(f, line);
      }
      follower?.start();
    });
}

/** The hooks' log of one release (hooks-r<n>.log): the newest release that has one, unless -r says which. */
function printHookLog(dir: string, service: string, release: number | undefined, lines: number, timestamps: boolean): void {
  const logs = listHookLogs(dir);
  const chosen = release === undefined ? logs.at(-1) : logs.find((l) => l.release === release);
  if (!chosen) {
    throw new ZddError(
      'NO_LOGS',
      release === undefined ? `no build output for ${service} in ${dir}` : `no build output for release ${release} of ${service}`,
      'releases with a source folder and install, build, release or smoke commands have one',
    );
  }
  for (const line of lastLines(chosen.file, lines)) {
    const { at, text } = splitStamp(line);
    process.stdout.write(`${at && timestamps ? `${dim(at)} ` : ''}${text}\n`);
  }
}
