import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync } from 'node:fs';
import path from 'node:path';

// Instance log files, as the daemon writes them: .zdd/logs/<service>/<service>-r<release>-<n>.log, the
// rotated ones beside it as <…>.log.1 (the newest), .log.2, …; each line starts with the time it came.

export interface InstanceLog {
  /** The instance, e.g. web-r3-1. */
  id: string;
  release: number;
  file: string;
}

const logName = /^(.+)-r(\d+)-(\d+)\.log$/;
const stamp = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) /;

export function logDir(dataDir: string, service: string): string {
  return path.join(dataDir, 'logs', service);
}

/** The current log file of every instance of the service, in the order of their ids (web-r2-10 after web-r2-9). */
export function listLogs(dir: string, service: string): InstanceLog[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const logs = names.flatMap((f) => {
    const m = logName.exec(f);
    return m && m[1] === service ? [{ id: f.slice(0, -4), release: Number(m[2]), file: path.join(dir, f) }] : [];
  });
  return logs.sort((a, b) => a.id.localeCompare(b.id, undefined, { numeric: true }));
}

const hookLogName = /^hooks-r(\d+)\.log$/;

/** The hooks' logs of a service's releases (hooks-r<n>.log), oldest release first. */
export function listHookLogs(dir: string): { release: number; file: string }[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .flatMap((f) => {
      const m = hookLogName.exec(f);
      return m ? [{ release: Number(m[1]), file: path.join(dir, f) }] : [];
    })
    .sort((a, b) => a.release - b.release);
}

/** A line as stored, split into the time it came (when it has one) and its text. */
export function splitStamp(line: string): { at: string | undefined; text: string } {
  const m = stamp.exec(line);
  return m ? { at: m[1], text: line.slice(m[0].length) } : { at: undefined, text: line };
}

/**
 * The last n lines an instance wrote: from its current file (read up to `end`, when given), then, when
 * that holds fewer, from its rotated files, newest first.
 */
export function lastLines(file: string, n: number, end?: number): string[] {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const f = i === 0 ? file : `${file}.${i}`;
    if (i > 0 && !existsSync(f)) break;
    out.unshift(...tail(f, n - out.length, i === 0 ? end : undefined));
  }
  return out;
}

/** The last n lines of one file, read backwards in chunks until there are enough. */
function tail(file: string, n: number, end?: number): string[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return [];
  }
  try {
    const chunks: Buffer[] = [];
    let pos = end ?? fstatSync(fd).size;
    let newlines = 0;
    // One newline more than lines wanted: the line before the first one wanted must end inside what is read.
    while (pos > 0 && newlines <= n) {
      const len = Math.min(64 * 1024, pos);
      const buf = Buffer.alloc(len);
      pos -= len;
      const got = readSync(fd, buf, 0, len, pos);
      const chunk = buf.subarray(0, got);
      chunks.unshift(chunk);
      for (let j = chunk.indexOf(10); j !== -1; j = chunk.indexOf(10, j + 1)) newlines++;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    return lines.slice(-n);
  } finally {
    closeSync(fd);
  }
}
