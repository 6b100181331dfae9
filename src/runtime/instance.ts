import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { logDefaults } from '../config/size.ts';
import { ZddError } from '../errors.ts';
import { LogFile } from './log-file.ts';
import { LogTail } from './log-tail.ts';
import { makeOutputFifo, openOutputPipe, outputPipePath, removeOutputPipe, reopenOutputPipe } from './output-pipe.ts';
import { processStartTime, stillRunning } from './process-identity.ts';
import { adoptTracker, ownScope, trackProcesses, type ProcessTracker, type TrackingMode } from './process-tracker.ts';

/** How long a stop waits, after the kill, for the instance's processes to be gone (one stuck in the kernel may never be). */
const reapTimeoutMs = 5_000;
/** How often an adopted instance (not zdd's child: no exit event) is checked for still running. */
const adoptedPollMs = 250;

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
  /** Rotation of the log file (default logDefaults); lines are timestamped unless timestamps is false. */
  logs?: { maxSize?: number; keep?: number; timestamps?: boolean };
  /** Which daemon the instance belongs to (scopeOf its data dir); outside a daemon, this process's own. */
  scope?: string;
  /** false: track its processes through /proc even where a cgroup would do (tests; a daemon has ZDD_CGROUPS=off). */
  cgroups?: boolean;
  /**
   * Its output goes through the FIFO beside its log file (output-pipe.ts; Instance.start makes it), so
   * that it outlives this daemon; otherwise through anonymous pipes, which do not.
   */
  outputFifo?: boolean;
}

export interface InstanceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** An adopted instance's exit: not zdd's child, so how it ended is not known. */
  unknown?: true;
}

/** A process a previous daemon started, verified to be the instance (process-identity.ts), to run under this one. */
export interface AdoptedProcess {
  pid: number;
  /** Its start time in clock ticks since boot: the pid names it only while this matches. */
  startTime: number;
  /** When it was started (ms since the epoch), as recorded. */
  startedAt: number;
}

export type InstanceState = 'running' | 'stopping' | 'exited';

/**
 * One process of one release. It runs in its own process group, and on Linux in a cgroup of its own (or
 * is found through /proc), so that stopping it reaches everything the command started (a shell, a process
 * manager, workers, even one that left the group with setsid), not only the first process.
 */
export class Instance extends EventEmitter<{ exit: [InstanceExit] }> {
  readonly id: string;
  readonly options: InstanceOptions;
  readonly tail = new LogTail(30);
  readonly exited: Promise<InstanceExit>;
  state: InstanceState = 'running';
  exit: InstanceExit | undefined;
  readonly startedAt: number;
  /** Its main process's start time (clock ticks since boot), undefined where /proc cannot tell. */
  readonly startTime: number | undefined;
  /** Started by a previous daemon and adopted after it crashed (its output is read from its FIFO again). */
  readonly adopted: boolean;
  readonly #pid: number | undefined;
  readonly #tracker: ProcessTracker;
  /** Once the main process has exited: whatever is left of the instance killed, its cgroup removed. */
  readonly #reaped: Promise<boolean>;
  /** Its output on disk; a full disk costs log lines there, never the instance or the daemon. */
  readonly logFile: LogFile;
  /** The FIFO its output goes through (when options.outputFifo, or adopted with one). */
  readonly #fifo: string;

  /** Starts an instance whose output outlives this daemon (its FIFO made first, without blocking the event loop). */
  static async start(options: InstanceOptions): Promise<Instance> {
    return new Instance({ ...options, outputFifo: await makeOutputFifo(outputPipePath(options.logFile)) });
  }

  constructor(options: InstanceOptions, adopted?: AdoptedProcess) {
    super();
    this.id = options.id;
    this.options = options;
    this.adopted = adopted !== undefined;
    this.#fifo = outputPipePath(options.logFile);
    this.startedAt = adopted?.startedAt ?? Date.now();
    const logs = options.logs;
    this.logFile = new LogFile(options.logFile, { maxSize: logs?.maxSize ?? logDefaults.maxSize, keep: logs?.keep ?? logDefaults.keep, timestamps: logs?.timestamps ?? true });
    const scope = options.scope ?? ownScope;
    let exited: Promise<InstanceExit>;
    /** Its main process is gone (the output pipes may still be draining). */
    let mainGone: Promise<unknown>;
    if (adopted) {
      this.#tracker = adoptTracker({ id: options.id, scope, pid: adopted.pid });
      this.#pid = adopted.pid;
      const output = reopenOutputPipe(this.#fifo);
      if (output) void this.#read(output);
      this.startTime = adopted.startTime;
      exited = new Promise((resolve) => {
        const timer = setInterval(() => {
          if (stillRunning(adopted.pid, adopted.startTime)) return;
          clearInterval(timer);
          resolve({ code: null, signal: null, unknown: true });
        }, adoptedPollMs);
      });
      mainGone = exited;
    } else {
      if (!existsSync(options.cwd) || !statSync(options.cwd).isDirectory()) {
        throw new ZddError('CWD_MISSING', `working directory ${options.cwd} does not exist`, 'check cwd in zdd.yaml or --cwd');
      }
      const env = {
        ...withoutZddSettings(process.env),
        ...options.env,
        PORT: String(options.port),
        HOST: options.host,
        ZDD_SERVICE: options.service,
        ZDD_RELEASE: String(options.release),
        ZDD_INSTANCE: options.id,
        ZDD_SCOPE: scope,
      };
      this.#tracker = trackProcesses({ id: options.id, scope, cgroups: options.cgroups });
      const { child, outputEnded } = this.#spawn(options, env);
      this.#pid = child.pid;
      this.startTime = child.pid === undefined ? undefined : processStartTime(child.pid);
      exited = new Promise((resolve) => {
        // Once the output is drained too, so the tail holds the last lines; a process left behind
        // holding the output open must not delay the exit for long.
        child.once('exit', (code, signal) => {
          const late = setTimeout(() => resolve({ code, signal }), 1_000);
          late.unref();
          void outputEnded.then(() => {
            clearTimeout(late);
            resolve({ code, signal });
          });
        });
        child.once('error', (err) => {
          this.tail.push(`zdd: cannot start ${child.spawnfile}: ${err.message}\n`);
          resolve({ code: null, signal: null });
        });
      });
      mainGone = new Promise((resolve) => {
        child.once('exit', resolve);
        child.once('error', resolve);
      });
    }
    this.exited = exited.then((exit) => {
      if (options.outputFifo || adopted) removeOutputPipe(this.#fifo);
      this.exit = exit;
      this.state = 'exited';
      void this.logFile.end();
      this.emit('exit', exit);
      return exit;
    });
    // An instance is over when its main process is: what it leaves behind goes too.
    this.#reaped = mainGone.then(() => this.#tracker.reap(reapTimeoutMs));
  }

  /** Starts the command; `outputEnded` once everything that holds its stdout and stderr has closed them. */
  #spawn(options: InstanceOptions, env: Record<string, string>): { child: ChildProcess; outputEnded: Promise<void> } {
    const [file, args] = typeof options.command === 'string' ? ['/bin/sh', ['-c', shellLine(options.command)]] : [options.command[0]!, options.command.slice(1)];
    const pipe = options.outputFifo ? openOutputPipe(this.#fifo) : undefined;
    const output = pipe ? pipe.childFd : 'pipe';
    let child: ChildProcess;
    try {
      child = spawn(...this.#tracker.command(file, args, options.cwd, env), { cwd: options.cwd, env, detached: true, stdio: ['ignore', output, output] });
    } finally {
      pipe?.closeChildEnd();
    }
    // Without a FIFO (a file system that has none): anonymous pipes, which die with this daemon.
    const streams = pipe ? [pipe.reader] : [child.stdout!, child.stderr!];
    return { child, outputEnded: Promise.all(streams.map((s) => this.#read(s))).then(() => undefined) };
  }

  /** The instance's output into its tail and log file; resolves when the stream is over. */
  #read(stream: Readable): Promise<void> {
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      this.tail.push(chunk);
      this.logFile.write(chunk);
    });
    return new Promise((resolve) => {
      stream.once('close', resolve);
      stream.once('error', () => resolve());
    });
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  /** How its processes are found, and its cgroup if it has one. */
  get tracking(): { mode: TrackingMode; cgroup: string | undefined } {
    return { mode: this.#tracker.mode, cgroup: this.#tracker.cgroup };
  }

  /**
   * SIGTERM to the process group and every tracked process, SIGKILL if the main process has not exited
   * after graceMs; once it has, whatever is left is killed. Resolves when nothing tracked is left (or
   * reapTimeoutMs after the kill, for a process that does not die).
   */
  async stop(graceMs: number): Promise<InstanceExit> {
    if (this.exit) {
      await this.#reaped;
      return this.exit;
    }
    this.state = 'stopping';
    this.#signal('SIGTERM');
    const timer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    // Children the command left behind in its group go too (where nothing else tracks them).
    this.#signalGroup('SIGKILL');
    await this.#reaped;
    return exit;
  }

  /** Synchronous last resort when the daemon itself is exiting. */
  kill(): void {
    this.#signal('SIGKILL');
  }

  #signal(signal: NodeJS.Signals): void {
    // Tracked processes first: one found through its parent must be found before the group's signal ends that parent.
    if (signal === 'SIGKILL') this.#tracker.killNow();
    else this.#tracker.signal(signal, this.#pid);
    this.#signalGroup(signal);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.#pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // The group is already gone.
    }
  }
}

export function describeExit(exit: InstanceExit): string {
  if (exit.unknown) return 'exited (adopted after a zdd crash: how is not known)';
  if (exit.signal) return `killed by ${exit.signal}`;
  if (exit.code === null) return 'could not be started';
  return `exited with code ${exit.code}`;
}

/** A plain command line runs via `exec`, so the app itself (not a shell) is the instance's process. */
function shellLine(command: string): string {
  // One simple command (expansions and redirections included: `gunicorn --bind $HOST:$PORT app:app`) is
  // exec'ed, so the app gets zdd's signals itself rather than a shell that dies at once on SIGTERM.
  // Lists, pipelines, subshells and leading assignments stay as written.
  return /[;&|()\n]/.test(command) || /^\s*\w+=/.test(command) || /^\s*exec\s/.test(command) ? command : `exec ${command}`;
}

export function withoutZddSettings(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && !k.startsWith('ZDD_')) out[k] = v;
  return out;
}
