import { Command } from 'commander';
import { pathFor, type LogsResponse } from '../../api/contract.ts';
import { integerIn } from '../../api/params.ts';
import { ZddError } from '../../errors.ts';
import { readLogs, type LogsLine, type LogsQuery } from '../../logs/read-logs.ts';
import { dataDir, withClient, withCommonOptions, withRemote, type CommonOptions } from '../context.ts';
import { dim } from '../format.ts';

interface LogsOptions extends CommonOptions {
  release?: string;
  instance?: string;
  lines: string;
  follow?: boolean;
  timestamps: boolean;
  build?: boolean;
}

/** What followed logs send, in order: the instances, their last lines, then new lines and new instances' files. */
type Followed = { instances: string[] } | { line: LogsLine } | { following: true } | { instance: string };

export function logsCommand(): Command {
  return withRemote(withCommonOptions(new Command('logs'), false))
    .description("what a service's instances wrote to stdout and stderr (by default: every instance of its newest release)")
    .argument('<service>', 'service name from zdd.yaml')
    .option('-r, --release <n>', 'instances of this release number')
    .option('-i, --instance <id>', 'one instance, e.g. web-r3-1')
    .option('-n, --lines <n>', 'lines per instance (older lines come from the rotated files)', '40')
    .option('-f, --follow', 'keep printing what they write, and what the instances of newer releases write, until interrupted')
    .option('--no-timestamps', 'leave out the time each line came')
    .option('--build', "what the release's install, build, release phase and smoke test printed (the newest release's, or -r N's)")
    .action(async (service: string, o: LogsOptions) => {
      const lines = integerIn(o.lines, 1, 1_000_000);
      if (lines === undefined) throw new ZddError('USAGE', `-n/--lines expects a whole number from 1 to 1000000, got "${o.lines}"`);
      const release = o.release === undefined ? undefined : integerIn(o.release, 1, Number.MAX_SAFE_INTEGER);
      if (o.release !== undefined && release === undefined) throw new ZddError('USAGE', `-r/--release expects a release number (a whole number from 1), got "${o.release}"`);
      const query: LogsQuery = { release, instance: o.instance, lines: o.build && o.lines === '40' ? 1_000_000 : lines, build: o.build, follow: o.follow && !o.build };
      const show = printer(o, query);
      // On the daemon's machine the files are read directly (no daemon needed); elsewhere, through the control API.
      if (!o.url) {
        const selection = readLogs(dataDir(o), service, query);
        show.start(selection.instances);
        for (const l of selection.lines) show.line(l);
        show.following();
        selection.follower?.start(show.line, show.instance);
        return;
      }
      const q = { release, instance: o.instance, lines: query.lines, build: o.build === true };
      if (!query.follow) {
        const r = await withClient(o, (c) => c.call<LogsResponse>('logs', { service }, { query: q }));
        show.start(r.instances);
        for (const l of r.lines) show.line(l);
        return;
      }
      await withClient(o, (c) =>
        c.ndjson(pathFor('logs', { service }, { ...q, follow: true }), (v) => {
          const value = v as Followed;
          if ('instances' in value) show.start(value.instances);
          else if ('line' in value) show.line(value.line);
          else if ('following' in value) show.following();
          else show.instance(value.instance);
        }),
      );
    });
}

/** Prints lines as `zdd logs` always has: a header per instance when there are several, names when following. */
function printer(o: LogsOptions, q: LogsQuery) {
  let named = false;
  let current: string | undefined;
  let headers = false;
  return {
    start(instances: string[]): void {
      // Followed without --instance, instances that start later show too: every line needs its instance's name.
      named = !o.build && (instances.length > 1 || (q.follow === true && !o.instance));
      headers = !o.build && instances.length > 1;
    },
    line: (l: LogsLine): void => {
      if (headers && l.instance !== current) process.stdout.write(dim(`── ${l.instance}\n`));
      current = l.instance;
      process.stdout.write(`${l.at && o.timestamps ? `${dim(l.at)} ` : ''}${named ? dim(`${l.instance} │ `) : ''}${l.text}\n`);
    },
    /** The lines so far were shown; from now on lines carry their instance's name, not headers. */
    following: (): void => {
      headers = false;
    },
    instance: (id: string): void => {
      process.stdout.write(dim(`── ${id}\n`));
    },
  };
}
