// What the machine has: optional tools (nginx, haproxy, wrk) and the facts printed above every result.
import { execFileSync, spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine } from './args.ts';

export const installHint = 'apt-get install nginx-light haproxy wrk';

/** Absolute path of an executable on PATH or in the sbin folders (nginx and haproxy live there). */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const file = path.join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** First line a tool prints about its version (on stdout or stderr, whatever its exit code). */
export function toolVersion(file: string, args: string[]): string {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 });
  return firstLine(`${r.stdout ?? ''}\n${r.stderr ?? ''}`) || 'unknown version';
}

function firstLine(s: string): string {
  return s.split('\n').find((l) => l.trim() !== '')?.trim() ?? '';
}

export interface Tool {
  name: string;
  file: string | undefined;
  version: string;
}

/** BENCH_HIDE_TOOLS=nginx,wrk pretends those are not installed (to see what a bare CI machine prints). */
const hidden = new Set((process.env['BENCH_HIDE_TOOLS'] ?? '').split(',').map((s) => s.trim()));

export function detect(name: 'nginx' | 'haproxy' | 'wrk'): Tool {
  const file = hidden.has(name) ? undefined : findTool(name);
  if (!file) return { name, file, version: 'not installed' };
  let version = toolVersion(file, ['-v']);
  if (name === 'haproxy') version = version.replace(/ - https?:\S+$/, '');
  if (name === 'nginx') version = version.replace(/^nginx version: /, '');
  if (name === 'wrk') version = version.replace(/ Copyright.*$/, '');
  return { name, file, version };
}

export function cpuModel(): string {
  const cpus = os.cpus();
  return cpus[0]?.model.trim() ?? 'unknown CPU';
}

export function machineLines(tools: Tool[]): string[] {
  const kernel = `${os.type()} ${os.release()}`;
  const lines = [
    `- machine: ${os.availableParallelism()} cores (${cpuModel()}), ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${kernel}`,
    `- node: ${process.version} (${process.execPath})`,
  ];
  for (const t of tools) lines.push(`- ${t.name}: ${t.file ? `${t.version} (${t.file})` : `not installed: ${installHint}`}`);
  return lines;
}

/** The top of a report: its title, the command line as typed, and the machine's facts. */
export function reportHeader(title: string, tools: Tool[]): string[] {
  return [`# ${title}`, '', `command: \`${commandLine()}\``, '', ...machineLines(tools)];
}

/** Clock ticks per second of /proc/<pid>/stat's CPU times. */
let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

function statFields(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: [0] is the state (field 3).
    return text.slice(text.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, all threads) a process has used, in ms; undefined off Linux or once it is gone. */
export function cpuMs(pid: number): number | undefined {
  const f = statFields(pid);
  if (!f) return undefined;
  return ((Number(f[11]) + Number(f[12])) * 1000) / ticksPerSecond();
}

/** The /proc/<pid>/stat fields (as statFields) of every process there is now; undefined without /proc. */
function allStatFields(): Map<number, string[]> | undefined {
  const all = new Map<number, string[]>();
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const f = statFields(Number(name));
      if (f) all.set(Number(name), f);
    }
  } catch {
    return undefined;
  }
  return all;
}

/** Every process's children, by parent pid, as of now; empty without /proc. */
export function childrenByParent(stats = allStatFields()): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const [pid, f] of stats ?? []) {
    const ppid = Number(f[1]);
    const siblings = children.get(ppid);
    if (siblings) siblings.push(pid);
    else children.set(ppid, [pid]);
  }
  return children;
}

/** The pid and its children (one level: nginx's master and workers). */
export function withChildren(pid: number): number[] {
  return [pid, ...(childrenByParent().get(pid) ?? [])];
}

/** Measures the CPU a set of processes uses between start() and stop(); undefined where /proc is missing. */
export class CpuMeter {
  readonly #pids: number[];
  #start = new Map<number, number>();
  constructor(pids: number[]) {
    this.#pids = pids;
  }
  start(): void {
    this.#start = new Map();
    for (const pid of this.#pids) {
      const ms = cpuMs(pid);
      if (ms !== undefined) this.#start.set(pid, ms);
    }
  }
  /** CPU ms used since start(), summed over the processes. */
  stop(): number | undefined {
    if (this.#start.size === 0) return undefined;
    let total = 0;
    for (const [pid, before] of this.#start) {
      const after = cpuMs(pid);
      if (after !== undefined) total += after - before;
    }
    return total;
  }
}

/** CPU time the whole machine spent busy, all cores together, in ms (steal included); undefined off Linux. */
export function machineBusyMs(): number | undefined {
  try {
    const first = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = first.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already inside user)
    const busy = (f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0) + (f[5] ?? 0) + (f[6] ?? 0) + (f[7] ?? 0);
    return (busy * 1000) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** CPU time of a process including its children that have ended and been reaped, in ms. */
function cpuWithReapedMs(f: string[]): number {
  return ((Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 1000) / ticksPerSecond();
}

/**
 * CPU used by this process and everything under it, ever, in ms: each live process of the tree with the
 * children it has reaped (a zdd instance stopped during a deploy counts in the daemon that reaped it).
 */
function ownTreeCpuMs(): number | undefined {
  const stats = allStatFields();
  if (!stats) return undefined;
  const children = childrenByParent(stats);
  let total = 0;
  const todo = [process.pid];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    const f = stats.get(pid);
    if (f) total += cpuWithReapedMs(f);
    todo.push(...(children.get(pid) ?? []));
  }
  return total;
}

/**
 * How busy the machine was with processes that are not the bench's: the machine's busy time minus this
 * process and everything it started. Other people's test runs or builds on the same machine show up here,
 * and make every number noisier.
 */
export class BackgroundMeter {
  #wallMs = 0;
  #backgroundMs = 0;
  #start: { wall: number; busy: number; own: number } | undefined;
  start(): void {
    const busy = machineBusyMs();
    const own = ownTreeCpuMs();
    if (busy === undefined || own === undefined) return;
    this.#start = { wall: performance.now(), busy, own };
  }
  stop(): void {
    const s = this.#start;
    this.#start = undefined;
    if (!s) return;
    const busy = machineBusyMs();
    const own = ownTreeCpuMs();
    if (busy === undefined || own === undefined) return;
    this.#wallMs += performance.now() - s.wall;
    this.#backgroundMs += Math.max(0, busy - s.busy - (own - s.own));
  }
  /** Share of the machine's CPU (all cores) used by others while measuring; undefined without /proc. */
  share(): number | undefined {
    return this.#wallMs > 0 ? this.#backgroundMs / (this.#wallMs * os.availableParallelism()) : undefined;
  }
}

/**
 * Waits until other processes leave the machine alone (under `maxShare` of its CPU over 300 ms), for at
 * most `maxWaitMs`; resolves with the share last seen. On a shared machine this keeps other people's test
 * runs out of a measurement when they pause; off Linux it returns at once.
 */
export async function waitForIdle(maxWaitMs: number, maxShare = 0.1): Promise<number | undefined> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const m = new BackgroundMeter();
    m.start();
    await new Promise((resolve) => setTimeout(resolve, 300));
    m.stop();
    const share = m.share();
    if (share === undefined || share < maxShare || performance.now() >= deadline) return share;
  }
}
