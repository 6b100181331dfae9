import { spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ZddError } from '../errors.ts';
import { maxDurationMs } from '../config/duration.ts';
import { withoutZddSettings, type InstanceExit } from '../runtime/instance.ts';
import { LogFile, type LogFileOptions } from '../runtime/log-file.ts';
import { LogTail } from '../runtime/log-tail.ts';
import { ownScope, trackProcesses } from '../runtime/process-tracker.ts';
import { LineSplitter } from './hook-lines.ts';
import { summarizeHook } from './hook-outcome.ts';

/**
 * The commands a release runs besides its instances: `install` (skipped when the build cache has its
 * output), `build`, `release` (migrations, once per deploy) and `smoke` (against the new instances only).
 */
export type HookName = 'install' | 'build' | 'release' | 'smoke';

export interface HookOptions {
  name: HookName;
  /** The release it runs for: in its log header, its environment (ZDD_SERVICE, ZDD_RELEASE) and its process ids. */
  service: string;
  release: number;
  /** A shell command line, run by /bin/sh -c. */
  command: string;
  /** The release's snapshot. */
  cwd: string;
  /** The release's env, over zdd's own environment minus its ZDD_* settings. */
  env: Record<string, string>;
  /** Appended to; made with its folder. */
  logFile: string;
  /** How the log file is written (e.g. timestamps, as instance logs have). */
  logOptions?: LogFileOptions;
  /** Required: past it the hook is stopped and fails. */
  timeoutMs: number;
  /** Aborting stops the hook (zdd abort, daemon shutdown); the result is 'cancelled'. */
  signal?: AbortSignal;
  /** Each line of output as it comes, stdout and stderr in the order written (a live view of a build). */
  onLine?: (line: string) => void;
  /** Between SIGTERM and SIGKILL when the hook is stopped. */
  killGraceMs?: number;
  /** Which daemon it belongs to (scopeOf its data dir), so a later daemon reaps it if this one dies mid-hook. */
  scope?: string;
  /** false: track its processes through /proc even where a cgroup would do (tests). */
  cgroups?: boolean;
}

/** ok: exited 0. failed: exited otherwise, was killed by someone else, or could not start. */
export type HookOutcome = 'ok' | 'failed' | 'timed-out' | 'cancelled';

export interface HookResult {
  name: HookName;
  outcome: HookOutcome;
  /** How its main process ended; code and signal null: it never ran. */
  exit: InstanceExit;
  /** Epoch ms. */
  startedAt: number;
  /** From start until its main process ended. */
  durationMs: number;
  timeoutMs: number;
  /** The last lines of its output (up to 20). */
  lastLines: string[];
  /** Why it was cancelled (the abort reason). */
  cancelReason?: string;
  logFile: string;
  /** Lines its log file lost to a full or failing disk. */
  droppedLogLines: number;
}

const defaultKillGraceMs = 5_000;
/** After the SIGKILL: how long for its processes to be gone, and then for its main one to be reaped. */
const reapTimeoutMs = 5_000;
/** After everything is killed: how long a process that escaped tracking may hold the output pipe. */
const pipeWaitMs = 1_000;

/**
 * Run one hook to its end. It runs in a process group of its own (and a cgroup, or found through /proc,
 * as instances are), so stopping it reaches everything it started; whatever it leaves running when it
 * exits is killed. Never rejects for what the command does: a failure is a result.
 */
export async function runHook(o: HookOptions): Promise<HookResult> {
  if (!(o.timeoutMs > 0 && o.timeoutMs <= maxDurationMs)) {
    throw new ZddError('HOOK_TIMEOUT_INVALID', `the ${o.name} hook needs a timeout between 1ms and 24 days, not ${o.timeoutMs}ms`, 'set its timeout in zdd.yaml');
  }
  const id = `${o.service}-r${o.release}-${o.name}`;
  const scope = o.scope ?? ownScope;
  // Read now, synchronously: the environment is the caller's at the call, not whatever it is later.
  const env = {
    ...withoutZddSettings(process.env),
    ...o.env,
    ZDD_SERVICE: o.service,
    ZDD_RELEASE: String(o.release),
    ZDD_HOOK: o.name,
    // The marks instances carry too: how this daemon (or the next, after a crash) finds its processes.
    ZDD_INSTANCE: id,
    ZDD_SCOPE: scope,
  };
  const startedAt = Date.now();
  const t0 = performance.now();
  const tail = new LogTail(20);
  const result = (outcome: HookOutcome, exit: InstanceExit, durationMs: number, cancelReason?: string): HookResult => ({
    name: o.name,
    outcome,
    exit,
    startedAt,
    durationMs,
    timeoutMs: o.timeoutMs,
    lastLines: tail.lines(),
    ...(cancelReason === undefined ? {} : { cancelReason }),
    logFile: o.logFile,
    droppedLogLines: 0,
  });
  if (o.signal?.aborted) return result('cancelled', { code: null, signal: null }, 0, reasonOf(o.signal));

  const log = new LogFile(o.logFile, o.logOptions);
  log.write(`=== zdd: ${o.name} of ${o.service} release ${o.release}, started ${new Date(startedAt).toISOString()} ===\n`);
  const lines = new LineSplitter((line) => {
    try {
      o.onLine?.(line);
    } catch {
      // A broken live view must not cost the hook its output, or the daemon an uncaught exception.
    }
  });
  let lastChar = '\n';
  const output = (chunk: string) => {
    lastChar = chunk.at(-1) ?? lastChar;
    tail.push(chunk);
    log.write(chunk);
    lines.push(chunk);
  };
  const finish = async (r: HookResult) => {
    lines.end();
    // The closing line on a line of its own, even after output that did not end its last line.
    log.write(`${lastChar === '\n' ? '' : '\n'}=== zdd: ${summarizeHook(r)} ===\n`);
    await log.end();
    return { ...r, droppedLogLines: log.drops.lines };
  };
  if (!isDirectory(o.cwd)) {
    output(`zdd: cannot start the ${o.name} hook: its working directory ${o.cwd} does not exist\n`);
    return finish(result('failed', { code: null, signal: null }, 0));
  }

  const tracker = trackProcesses({ id, scope, cgroups: o.cgroups });
  // One pipe for both streams from the first command on, so the log shows them in the order written.
  const [file, args] = tracker.command('/bin/sh', ['-c', `exec 2>&1; ${o.command}`], o.cwd, env);
  const child = spawn(file, args, { cwd: o.cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const signalAll = (signal: NodeJS.Signals) => {
    // Tracked processes first: one found through its parent must be found before the group's signal ends that parent.
    if (signal === 'SIGKILL') tracker.killNow();
    else tracker.signal(signal, child.pid);
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // The group is already gone.
    }
  };
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8');
    stream.on('data', output);
  }
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = Promise.withResolvers<InstanceExit>();
  child.once('exit', (code, signal) => exited.resolve({ code, signal }));
  child.once('error', (err) => {
    output(`zdd: cannot start the ${o.name} hook: ${err.message}\n`);
    exited.resolve({ code: null, signal: null });
  });

  let stoppedFor: 'timed-out' | 'cancelled' | undefined;
  let cancelReason: string | undefined;
  const killed = Promise.withResolvers<void>();
  let killTimer: NodeJS.Timeout | undefined;
  let stuckTimer: NodeJS.Timeout | undefined;
  const stop = (why: 'timed-out' | 'cancelled') => {
    if (stoppedFor) return;
    stoppedFor = why;
    signalAll('SIGTERM');
    killTimer = setTimeout(() => {
      signalAll('SIGKILL');
      killed.resolve();
      // A process stuck in the kernel (a hung NFS mount) never exits: the deploy does not wait for it.
      stuckTimer = setTimeout(() => exited.resolve({ code: null, signal: 'SIGKILL' }), reapTimeoutMs);
    }, o.killGraceMs ?? defaultKillGraceMs);
  };
  const timeout = setTimeout(() => stop('timed-out'), o.timeoutMs);
  const onAbort = () => {
    cancelReason = reasonOf(o.signal!);
    stop('cancelled');
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  const exit = await exited.promise;
  const durationMs = Math.round(performance.now() - t0);
  clearTimeout(timeout);
  o.signal?.removeEventListener('abort', onAbort);
  // Once stopped, the rest of the group has the grace period to finish too; otherwise the hook is over
  // and whatever it left running goes now.
  if (stoppedFor) await Promise.race([closed.then(() => untilGone(() => tracker.pids(), killed.promise)), killed.promise]);
  clearTimeout(killTimer);
  clearTimeout(stuckTimer);
  signalAll('SIGKILL');
  await tracker.reap(reapTimeoutMs);
  if (child.pid !== undefined) await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, pipeWaitMs).unref())]);
  child.stdout.destroy();
  child.stderr.destroy();
  const outcome: HookOutcome = stoppedFor ?? (exit.code === 0 ? 'ok' : 'failed');
  return finish(result(outcome, exit, durationMs, cancelReason));
}

/** Resolves once `pids` finds none (or `giveUp` resolves): processes that obeyed the SIGTERM take a moment to go. */
async function untilGone(pids: () => number[], giveUp: Promise<void>): Promise<void> {
  let over = false;
  void giveUp.then(() => (over = true));
  while (!over && pids().length > 0) await new Promise((resolve) => setTimeout(resolve, 20));
}

function reasonOf(signal: AbortSignal): string {
  const r: unknown = signal.reason;
  return r instanceof Error ? r.message : String(r ?? 'cancelled');
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}
