import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { zddBin } from './project.ts';

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** `zdd serve` in a project folder, with its JSON log lines observable as events. */
export class DaemonProcess {
  readonly proc: ChildProcess;
  readonly lines: LogLine[] = [];
  stderr = '';
  readonly #waiters = new Set<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  readonly exited: Promise<number | null>;

  /** `launcher`: a command to run zdd under, e.g. nsenter into another mount namespace. */
  constructor(cwd: string, args: string[] = [], env: Record<string, string> = {}, launcher: string[] = []) {
    const [file, ...pre] = [...launcher, zddBin];
    this.proc = spawn(file!, [...pre, 'serve', '--log-format', 'json', ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 30, msg: text };
      }
      this.lines.push(line);
      for (const w of this.#waiters) {
        if (w.match(line)) {
          this.#waiters.delete(w);
          w.resolve(line);
        }
      }
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d));
    this.exited = once(this.proc, 'exit').then(([code]) => code as number | null);
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (l: LogLine) => boolean): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = { match, resolve };
      this.#waiters.add(w);
      void this.exited.then((code) => {
        if (this.#waiters.delete(w)) reject(new Error(`daemon exited (${code}) before the awaited log line; stderr: ${this.stderr}`));
      });
    });
  }

  ready(): Promise<LogLine> {
    return this.waitForLog((l) => / ready$/.test(l.msg));
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return this.proc.exitCode;
    this.proc.kill(signal);
    return this.exited;
  }
}

export async function startDaemon(cwd: string, args: string[] = [], env: Record<string, string> = {}, launcher: string[] = []): Promise<DaemonProcess> {
  const d = new DaemonProcess(cwd, args, env, launcher);
  await d.ready();
  return d;
}
