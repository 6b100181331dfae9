// Process and temp-dir bookkeeping for the benches: everything started here is stopped (SIGTERM, then
// SIGKILL after a grace period) and every temp dir removed, on success, on error and on Ctrl-C.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { allocatePort } from '../../src/runtime/ports.ts';

export interface Managed {
  readonly name: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) when the process ends. */
  readonly exited: Promise<number | string>;
  /** The last 64 KB of stdout + stderr, for error messages. */
  output(): string;
  /** Calls `fn` with each line of stdout (past lines are not replayed). */
  onLine(fn: (line: string) => void): void;
  /** SIGTERM, then SIGKILL if it is still running after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Managed>();
const tempDirs = new Set<string>();
let cleaning: Promise<void> | undefined;

function isRunning(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
}

/** Starts a long-running process that cleanup() will stop. */
export function startProcess(name: string, command: string, args: string[], o: SpawnOptions = {}): Managed {
  const proc = spawn(command, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d: Buffer) => {
    out += d.toString('utf8');
    if (out.length > 65_536) out = out.slice(-65_536);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const lineListeners: ((line: string) => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    for (const fn of lineListeners) fn(line);
  });
  const exited = new Promise<number | string>((resolve) => {
    proc.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    proc.once('error', (err) => {
      keep(Buffer.from(`\n${name}: ${err.message}\n`));
      resolve('spawn-error');
    });
  });
  const m: Managed = {
    name,
    proc,
    pid: proc.pid ?? -1,
    exited,
    output: () => out,
    onLine: (fn) => void lineListeners.push(fn),
    async stop(graceMs = 10_000) {
      if (isRunning(proc)) {
        proc.kill('SIGTERM');
        const timer = setTimeout(() => isRunning(proc) && proc.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      live.delete(m);
    },
  };
  live.add(m);
  void exited.then(() => live.delete(m));
  return m;
}

export interface CommandResult {
  code: number | string;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to its end (wrk, zdd deploy …); a Ctrl-C meanwhile stops it like the rest. */
export async function runCommand(command: string, args: string[], o: SpawnOptions = {}): Promise<CommandResult> {
  const started = performance.now();
  const proc = spawn(command, args, { cwd: o.cwd, env: { ...process.env, ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const m: Managed = {
    name: path.basename(command),
    proc,
    pid: proc.pid ?? -1,
    exited: Promise.resolve(0),
    output: () => '',
    onLine: () => undefined,
    async stop() {
      if (isRunning(proc)) proc.kill('SIGTERM');
    },
  };
  live.add(m);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => (stdout += d));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d));
  try {
    const code = await new Promise<number | string>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('close', (c, signal) => resolve(c ?? signal ?? 'unknown'));
    });
    return { code, stdout, stderr, ms: performance.now() - started };
  } finally {
    live.delete(m);
  }
}

/** A temp dir that cleanup() removes. */
export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  tempDirs.add(dir);
  return dir;
}

/** Stops every process started here (newest first) and removes the temp dirs. Safe to call twice. */
export function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const m of [...live].reverse()) await m.stop().catch(() => undefined);
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
  })();
  return cleaning;
}

/**
 * Runs `main`, then cleans up; on an error (thrown, or uncaught anywhere) or on SIGINT/SIGTERM, cleans up
 * and exits non-zero. Should the process end some other way, a last synchronous pass on 'exit' sends
 * SIGTERM to whatever is left (zdd then still stops its instances) and removes the temp dirs.
 */
export function runMain(main: () => Promise<void>): void {
  let ending = false;
  const fail = (why: string, code: number) => {
    if (ending) return;
    ending = true;
    process.stderr.write(why);
    void cleanup().finally(() => process.exit(code));
  };
  const onSignal = (signal: NodeJS.Signals) => fail(`\n${signal}: stopping everything the bench started …\n`, 130);
  const onError = (err: unknown) => fail(`\nbench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`, 1);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  process.on('exit', () => {
    for (const m of live) if (isRunning(m.proc)) m.proc.kill('SIGTERM');
    for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  });
  main().then(async () => {
    if (ending) return;
    ending = true;
    await cleanup();
    process.exit(process.exitCode ?? 0);
  }, onError);
}

/** A free loopback port, found the way zdd finds its instances' ports. */
export function freePort(): Promise<number> {
  return allocatePort('127.0.0.1');
}

/** Polls `url` until it answers 2xx; throws with the process's output when it exits or time runs out. */
export async function waitForHttp(url: string, owner?: Managed, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (owner && !isRunning(owner.proc)) throw new Error(`${owner.name} exited (${await owner.exited}) before ${url} answered:\n${owner.output()}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await r.arrayBuffer();
      if (r.ok) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${url} did not answer in ${timeoutMs} ms (${last})${owner ? `; ${owner.name} said:\n${owner.output()}` : ''}`);
}

/** Resolves with the first stdout line that matches; rejects when the process exits first. */
export function waitForLine(m: Managed, match: (line: string) => boolean, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${m.name}: no ready line in ${timeoutMs} ms:\n${m.output()}`)), timeoutMs);
    m.onLine((line) => {
      if (match(line)) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    void m.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${m.name} exited (${code}) before it was ready:\n${m.output()}`));
    });
  });
}

export { sleep };
