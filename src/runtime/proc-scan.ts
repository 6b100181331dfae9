import { readdirSync, readFileSync } from 'node:fs';

/** One process as /proc shows it: enough to decide whether it belongs to an instance. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Its process group. */
  pgid: number;
  /** When it started (clock ticks since boot): with the pid, names one process even after the pid is reused. */
  startTime: number;
  /** Dead, waiting for its parent to reap it: nothing left to stop. */
  zombie: boolean;
  /** Its environment as it was started (empty when unreadable: another user's process, or gone). */
  env: readonly string[];
}

/** Every process on this machine but this one (Linux). Processes that end during the scan are left out. */
export function scanProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      // The command name, in parentheses, may itself hold spaces and parentheses: fields follow the last ')'.
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.push({ pid: Number(name), ppid: Number(fields[1]), pgid: Number(fields[2]), startTime: Number(fields[19]), zombie: fields[0] === 'Z', env: readEnv(name) });
    } catch {
      // Ended meanwhile.
    }
  }
  return out;
}

/** A process's process group, if it is still there. */
export function processGroupOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
  } catch {
    return undefined;
  }
}

function readEnv(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    return [];
  }
}

/**
 * The live processes that carry every one of `marks` in their environment, those `known` from an earlier
 * scan (pid → start time), and their descendants: a child started with a clean environment is found
 * while its parent is, and stays known once found. Pure.
 */
export function membersOf(processes: readonly ProcessInfo[], marks: readonly string[], known: ReadonlyMap<number, number> = new Map()): ProcessInfo[] {
  const members = new Set<number>();
  for (const p of processes) if (marks.every((m) => p.env.includes(m)) || known.get(p.pid) === p.startTime) members.add(p.pid);
  const children = new Map<number, number[]>();
  for (const p of processes) {
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p.pid);
    else children.set(p.ppid, [p.pid]);
  }
  const queue = [...members];
  for (let pid = queue.pop(); pid !== undefined; pid = queue.pop()) {
    for (const child of children.get(pid) ?? []) {
      if (!members.has(child)) {
        members.add(child);
        queue.push(child);
      }
    }
  }
  return processes.filter((p) => members.has(p.pid) && !p.zombie);
}

/** Send a signal, ignoring a process that is already gone. */
export function signalAll(pids: readonly number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Gone already.
    }
  }
}
