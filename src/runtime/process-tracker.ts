import { createHash } from 'node:crypto';
import { constants, accessSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';
import { cgroupDirOf, cgroupPids, cgroupPopulated, instanceCgroupParent, killCgroup, makeCgroup, removeCgroup } from './cgroups.ts';
import { membersOf, processGroupOf, scanProcesses, signalAll, type ProcessInfo } from './proc-scan.ts';

/**
 * How an instance's processes are found, strongest first:
 * - cgroup: its own cgroup v2, which nothing it starts can leave (short of root privileges moving it out);
 * - proc: the processes whose environment carries its ZDD_INSTANCE and ZDD_SCOPE, and their descendants.
 *   Escapes it: a process that drops or rewrites its environment and is no longer the child of one found
 *   (its parent exited, so it was reparented to init), or that runs as another user;
 * - group: only its process group (not Linux); `setsid` escapes it.
 */
export type TrackingMode = 'cgroup' | 'proc' | 'group';

export interface ProcessTracker {
  readonly mode: TrackingMode;
  /** The instance's cgroup directory (cgroup mode). */
  readonly cgroup: string | undefined;
  /** What to spawn so that tracking holds from the command's first instruction. */
  command(file: string, args: string[], cwd: string, env: Record<string, string>): [string, string[]];
  /** The instance's live processes (the process group's, too, in cgroup and proc modes). */
  pids(): number[];
  /** Signal those outside process group `skipGroup` (the caller signals that group itself: a second SIGTERM often means "quit now"). */
  signal(signal: NodeJS.Signals, skipGroup: number | undefined): void;
  /** SIGKILL all of them now, synchronously (a few more may still be dying on return). */
  killNow(): void;
  /** SIGKILL until none is left, up to timeoutMs, then let go of the cgroup; true when none is left. */
  reap(timeoutMs: number): Promise<boolean>;
}

/**
 * Which daemon an instance belongs to, from its data dir: instance ids (web-r1-1) repeat across data dirs,
 * so processes and cgroups are matched on the pair.
 */
export function scopeOf(dataDir: string): string {
  let real = path.resolve(dataDir);
  try {
    real = realpathSync(real);
  } catch {
    // Not there (yet): the path as given.
  }
  return shortHash(`data dir ${real}`);
}

/** The scope of instances started outside a daemon (tests): this process's own. */
export const ownScope = shortHash(`process ${process.pid} ${Date.now()}`);

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** Every instance cgroup of one scope starts so. */
export function cgroupPrefix(scope: string): string {
  return `zdd-${scope}-`;
}

/** The tracker for a new instance: a cgroup of its own where cgroup v2 is writable (unless cgroups is false), else /proc. */
export function trackProcesses(o: { id: string; scope: string; cgroups?: boolean }): ProcessTracker {
  if (process.platform !== 'linux') return new GroupTracker();
  const parent = o.cgroups === false ? undefined : instanceCgroupParent();
  const dir = parent && makeCgroup(parent, `${cgroupPrefix(o.scope)}${o.id}`);
  return dir ? new CgroupTracker(dir) : new ProcTracker(o.id, o.scope);
}

/**
 * The tracker for an instance a previous daemon started (adopted after a crash): the cgroup it runs in when
 * that is its own, else /proc.
 */
export function adoptTracker(o: { id: string; scope: string; pid: number }): ProcessTracker {
  if (process.platform !== 'linux') return new GroupTracker();
  const dir = cgroupDirOf(o.pid);
  return dir && path.basename(dir) === `${cgroupPrefix(o.scope)}${o.id}` ? new CgroupTracker(dir) : new ProcTracker(o.id, o.scope);
}

/** For the daemon's log at start: how instances will be tracked here. */
export function describeTracking(): string {
  if (process.platform !== 'linux') return 'instances are tracked by process group (a process that calls setsid escapes)';
  const parent = instanceCgroupParent();
  return parent ? `instances run in cgroups of their own under ${parent}` : 'instances are tracked through /proc (no writable cgroup v2 here, or ZDD_CGROUPS=off)';
}

const pollMs = 20;

// The shell joins the cgroup ($$ is itself) and then becomes the command by exec: the command and all
// it ever starts are born inside, so nothing can fork before the move and escape.
const joinCgroup =
  'echo $$ 2>/dev/null >"$1" || { echo "zdd: cannot put the instance into cgroup ${1%/cgroup.procs} (ZDD_CGROUPS=off tracks processes through /proc instead)" >&2; exit 125; }; shift; exec "$@"';

class CgroupTracker implements ProcessTracker {
  readonly mode = 'cgroup';
  readonly cgroup: string;

  constructor(dir: string) {
    this.cgroup = dir;
  }

  command(file: string, args: string[], cwd: string, env: Record<string, string>): [string, string[]] {
    // A command spawn cannot start is left to fail there, with its own error: no process, nothing to track.
    if (!runnable(file, cwd, env.PATH)) return [file, args];
    return ['/bin/sh', ['-c', joinCgroup, 'zdd', path.join(this.cgroup, 'cgroup.procs'), file, ...args]];
  }

  pids(): number[] {
    return cgroupPids(this.cgroup);
  }

  signal(signal: NodeJS.Signals, skipGroup: number | undefined): void {
    signalAll(this.pids().filter((pid) => processGroupOf(pid) !== skipGroup), signal);
  }

  killNow(): void {
    killCgroup(this.cgroup);
  }

  async reap(timeoutMs: number): Promise<boolean> {
    // Removed means empty, down to processes still exiting. One that cannot be removed in time is removed
    // by the next daemon's start (orphans.ts).
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (cgroupPopulated(this.cgroup)) killCgroup(this.cgroup);
      else if (removeCgroup(this.cgroup)) return true;
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }
}

class ProcTracker implements ProcessTracker {
  readonly mode = 'proc';
  readonly cgroup = undefined;
  readonly #marks: string[];
  /** Every process found so far (pid → start time): one whose parent dies stays found without the marks. */
  readonly #known = new Map<number, number>();

  constructor(id: string, scope: string) {
    this.#marks = [`ZDD_INSTANCE=${id}`, `ZDD_SCOPE=${scope}`];
  }

  command(file: string, args: string[]): [string, string[]] {
    // The marks are in the environment the command starts with, and every child inherits it.
    return [file, args];
  }

  pids(): number[] {
    return this.#members().map((p) => p.pid);
  }

  signal(signal: NodeJS.Signals, skipGroup: number | undefined): void {
    signalAll(this.#members().flatMap((p) => (p.pgid === skipGroup ? [] : [p.pid])), signal);
  }

  killNow(): void {
    // Again while any is found: a child forked between a scan and the kill carries the marks too.
    for (let round = 0; round < 3; round++) {
      const pids = this.pids();
      if (pids.length === 0) return;
      signalAll(pids, 'SIGKILL');
    }
  }

  async reap(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pids = this.pids();
      if (pids.length === 0) return true;
      if (Date.now() >= deadline) return false;
      signalAll(pids, 'SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  #members(): ProcessInfo[] {
    const members = membersOf(scanProcesses(), this.#marks, this.#known);
    for (const p of members) this.#known.set(p.pid, p.startTime);
    return members;
  }
}

/** Not Linux: the instance's process group is all there is, and the instance signals that itself. */
class GroupTracker implements ProcessTracker {
  readonly mode = 'group';
  readonly cgroup = undefined;
  command(file: string, args: string[]): [string, string[]] {
    return [file, args];
  }
  pids(): number[] {
    return [];
  }
  signal(): void {}
  killNow(): void {}
  async reap(): Promise<boolean> {
    return true;
  }
}

/** Whether spawn would find and start `file`, searching PATH as it does. */
function runnable(file: string, cwd: string, searchPath = '/usr/bin:/bin'): boolean {
  const candidates = file.includes('/') ? [path.resolve(cwd, file)] : searchPath.split(':').map((dir) => path.resolve(cwd, dir || '.', file));
  return candidates.some((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}
