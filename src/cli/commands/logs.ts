import { closeSync, openSync, readdirSync, readSync, statSync, watchFile } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { integerIn } from '../../api/params.ts';
import { ZddError } from '../../errors.ts';
import { dataDir, withCommonOptions, type CommonOptions } from '../context.ts';
import { dim } from '../format.ts';

interface LogsOptions extends CommonOptions {
  release?: string;
  instance?: string;
  lines: string;
  follow?: boolean;
}

/** Instance log files are named <service>-r<release>-<n>.log under .zdd/logs/<service>/. */
const logName = /^(.+)-r(\d+)-(\d+)\.log$/;

export function logsCommand(): Command {
  return withCommonOptions(new Command('logs'), false)
    .description("what a service's instances wrote to stdout and stderr (by default: every instance of its newest release)")
    .argument('<service>', 'service name from zdd.yaml')
    .option('-r, --release <n>', 'instances of this release number')
    .option('-i, --instance <id>', 'one instance, e.g. web-r3-1')
    .option('-n, --lines <n>', 'lines per instance', '40')
    .option('-f, --follow', 'keep printing what they write until interrupted')
    .action((service: string, o: LogsOptions) => {
      const lines = integerIn(o.lines, 1, 1_000_000);
      if (lines === undefined) throw new ZddError('USAGE', `-n/--lines expects a whole number from 1 to 1000000, got "${o.lines}"`);
      const wanted = o.release === undefined ? undefined : integerIn(o.release, 1, Number.MAX_SAFE_INTEGER);
      if (o.release !== undefined && wanted === undefined) throw new ZddError('USAGE', `-r/--release expects a release number (a whole number from 1), got "${o.release}"`);
      const dir = path.join(dataDir(o), 'logs', service);
      let files: { id: string; release: number; file: string }[];
      try {
        files = readdirSync(dir).flatMap((f) => {
          const m = logName.exec(f);
          return m && m[1] === service ? [{ id: f.slice(0, -4), release: Number(m[2]), file: path.join(dir, f) }] : [];
        });
      } catch {
        files = [];
      }
      if (files.length === 0) throw new ZddError('NO_LOGS', `no instance logs for ${service} in ${dir}`, `deploy it first: zdd deploy ${service}`);
      const release = wanted ?? Math.max(...files.map((f) => f.release));
      const chosen = o.instance ? files.filter((f) => f.id === o.instance) : files.filter((f) => f.release === release);
      if (chosen.length === 0) throw new ZddError('USAGE', `no logs for ${o.instance ?? `release ${release}`} of ${service}`);
      chosen.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
      const prefix = (id: string) => (chosen.length > 1 ? dim(`${id} │ `) : '');
      for (const f of chosen) {
        if (chosen.length > 1) process.stdout.write(dim(`── ${f.id}\n`));
        for (const line of lastLines(f.file, lines)) process.stdout.write(`${prefix(f.id)}${line}\n`);
      }
      if (!o.follow) return;
      for (const f of chosen) follow(f.file, (line) => process.stdout.write(`${prefix(f.id)}${line}\n`));
    });
}

function lastLines(file: string, n: number): string[] {
  const size = statSync(file).size;
  const from = Math.max(0, size - 256 * 1024);
  const text = readRange(file, from, size);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.slice(-n);
}

function follow(file: string, onLine: (line: string) => void): void {
  let offset = statSync(file).size;
  let partial = '';
  watchFile(file, { interval: 200 }, (cur) => {
    if (cur.size < offset) offset = 0; // truncated
    if (cur.size === offset) return;
    const parts = (partial + readRange(file, offset, cur.size)).split('\n');
    offset = cur.size;
    partial = parts.pop() ?? '';
    for (const line of parts) onLine(line);
  });
}

function readRange(file: string, from: number, to: number): string {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(to - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}
