import { writeSync } from 'node:fs';
import pino, { type Logger } from 'pino';

export type LogFormat = 'pretty' | 'json';

export interface DaemonLog {
  log: Logger;
  /** Lines that could not be written to stdout (a full disk under a redirect, a reader gone). */
  dropped(): number;
}

/** Readable lines for people by default; one JSON object per line for log shippers. */
export async function createLogger(format: LogFormat, level = process.env.ZDD_LOG_LEVEL ?? 'info'): Promise<DaemonLog> {
  const redact = { paths: ['env', '*.env', 'headers.authorization', 'headers.cookie'], censor: '[redacted]' };
  const out = new Stdout();
  const dropped = () => out.dropped;
  if (format === 'json') return { log: pino({ level, redact, base: { pid: process.pid } }, out), dropped };
  // Loaded for people only: a daemon that logs JSON (as under systemd) does without it.
  const { prettyFactory } = await import('pino-pretty');
  const pretty = prettyFactory({
    colorize: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    translateTime: 'HH:MM:ss.l',
    ignore: 'pid,hostname',
    singleLine: true,
  });
  return { log: pino({ level, redact, base: undefined }, { write: (line: string) => out.write(pretty(line)) }), dropped };
}

/**
 * The daemon's stdout, written synchronously. A line that cannot be written (ENOSPC under a redirect to
 * a full disk, EPIPE once the reader is gone, EAGAIN on a non-blocking pipe that is full) is dropped and
 * counted: the daemon's own log must never stop the daemon.
 */
class Stdout {
  dropped = 0;
  readonly #pause = new Int32Array(new SharedArrayBuffer(4));

  write(line: string): void {
    const buf = Buffer.from(line);
    let at = 0;
    // A full pipe (EAGAIN) is a slow reader, not a lost one: wait for it a little (up to ~1 s) before dropping.
    for (let waits = 0; at < buf.length; ) {
      try {
        at += writeSync(1, buf, at);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || ++waits > 1000) {
          this.dropped++;
          return;
        }
        Atomics.wait(this.#pause, 0, 0, 1);
      }
    }
  }
}
