import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createWriteStream, existsSync, mkdirSync, statSync, type WriteStream } from 'node:fs';
import path from 'node:path';
import { ZddError } from '../errors.ts';
import { LogTail } from './log-tail.ts';

export interface InstanceOptions {
  id: string;
  service: string;
  release: number;
  command: string | string[];
  cwd: string;
  env: Record<string, string>;
  host: string;
  port: number;
  logFile: string;
}

export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type InstanceState = 'running' | 'stopping' | 'exited';

/**
 * One process of one release. It runs in its own process group so that stopping it reaches everything
 * the command started (a shell, a process manager, workers), not only the first process.
 */
export class Instance extends EventEmitter<{ exit: [InstanceExit] }> {
  readonly id: string;
  readonly options: InstanceOptions;
  readonly tail = new LogTail(30);
  readonly exited: Promise<InstanceExit>;
  state: InstanceState = 'running';
  exit: InstanceExit | undefined;
  readonly startedAt = Date.now();
  readonly #child: ChildProcess;
  readonly #log: WriteStream;

  constructor(options: InstanceOptions) {
    super();
    this.id = options.id;
    this.options = options;
    if (!existsSync(options.cwd) || !statSync(options.cwd).isDirectory()) {
      throw new ZddError('CWD_MISSING', `working directory ${options.cwd} does not exist`, 'check cwd in zdd.yaml or --cwd');
    }
    mkdirSync(path.dirname(options.logFile), { recursive: true });
    this.#log = createWriteStream(options.logFile, { flags: 'a' });
    const env = {
      ...withoutZddSettings(process.env),
      ...options.env,
      PORT: String(options.port),
      HOST: options.host,
      ZDD_SERVICE: options.service,
      ZDD_RELEASE: String(options.release),
      ZDD_INSTANCE: options.id,
    };
    const [file, args] = typeof options.command === 'string' ? ['/bin/sh', ['-c', shellLine(options.command)]] : [options.command[0]!, options.command.slice(1)];
    this.#child = spawn(file, args, { cwd: options.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      const done = (exit: InstanceExit) => {
        if (this.exit) return;
        this.exit = exit;
        this.state = 'exited';
        this.#log.end();
        resolve(exit);
        this.emit('exit', exit);
      };
      // 'close' comes once the output pipes are drained too, so the tail holds the last lines; a
      // process left behind holding the pipes must not delay the exit for long.
      this.#child.once('close', (code, signal) => done({ code, signal }));
      this.#child.once('exit', (code, signal) => setTimeout(() => done({ code, signal }), 1_000).unref());
      this.#child.once('error', (err) => {
        this.tail.push(`zdd: cannot start ${file}: ${err.message}\n`);
        done({ code: null, signal: null });
      });
    });
    for (const stream of [this.#child.stdout!, this.#child.stderr!]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        this.tail.push(chunk);
        if (!this.#log.writableEnded) this.#log.write(chunk);
      });
    }
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** SIGTERM to the process group, then SIGKILL if it has not exited after graceMs. */
  async stop(graceMs: number): Promise<InstanceExit> {
    if (this.exit) return this.exit;
    this.state = 'stopping';
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    // Children the command left behind in its group go too.
    this.#signal('SIGKILL');
    return exit;
  }

  /** Synchronous last resort when the daemon itself is exiting. */
  kill(): void {
    this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}

export function describeExit(exit: InstanceExit): string {
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code === null) return 'could not be started';
  return `exited with code ${exit.code}`;
}

/** A plain command line runs via `exec`, so the app itself (not a shell) is the instance's process. */
function shellLine(command: string): string {
  return /[;&|<>()$`\\\n]/.test(command) || /^\s*\w+=/.test(command) ? command : `exec ${command}`;
}

function withoutZddSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('ZDD_')) out[k] = v;
  return out;
}
