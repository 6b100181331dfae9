// A daemon's memory as the kernel sees it: /proc/<pid>/status of zdd's own processes (the daemon and
// whatever it forks that is not an app: data-plane workers), told apart from the apps' by the process
// tree. (The event-loop delay the daemon reports in /metrics: bench/lib/zdd.ts.)
import { readFileSync } from 'node:fs';
import { childrenByParent } from './machine.ts';

/** A field of /proc/<pid>/status in kB (VmRSS, VmHWM …); undefined once the process is gone. */
export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM' | 'RssAnon' | 'RssFile'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Sum of a status field over processes, in MB (processes gone meanwhile count 0). */
export function sumMb(pids: readonly number[], field: 'VmRSS' | 'VmHWM' = 'VmRSS'): number {
  return pids.reduce((sum, pid) => sum + (statusKb(pid, field) ?? 0), 0) / 1024;
}

/**
 * Sum of a /proc/<pid>/smaps_rollup field over processes, in MB: Pss (each shared page counted as a
 * share, e.g. Node's code shared by zdd, its workers and Node apps) or Private (pages no other process
 * maps: what the processes cost on their own).
 */
export function smapsMb(pids: readonly number[], field: 'Pss' | 'Private'): number {
  let kb = 0;
  for (const pid of pids) {
    try {
      const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const get = (k: string) => Number(new RegExp(`^${k}:\\s*(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
      kb += field === 'Pss' ? get('Pss') : get('Private_Clean') + get('Private_Dirty');
    } catch {
      // Gone meanwhile: counts 0.
    }
  }
  return kb / 1024;
}

function isAppInstance(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').some((v) => v.startsWith('ZDD_INSTANCE='));
  } catch {
    return false;
  }
}

export interface DaemonTree {
  /** The daemon and its descendants that are not apps (data-plane workers, should zdd fork them). */
  zdd: number[];
  /** App instances (a child whose environment carries ZDD_INSTANCE, and everything under it). */
  apps: number[];
}

/** The daemon's process tree, split into zdd's own processes and the apps' (as of now). */
export function daemonTree(daemonPid: number): DaemonTree {
  const children = childrenByParent();
  const tree: DaemonTree = { zdd: [daemonPid], apps: [] };
  const below = (pid: number): number[] => (children.get(pid) ?? []).flatMap((c) => [c, ...below(c)]);
  const todo = [...(children.get(daemonPid) ?? [])];
  for (let pid = todo.pop(); pid !== undefined; pid = todo.pop()) {
    if (isAppInstance(pid)) tree.apps.push(pid, ...below(pid));
    else {
      tree.zdd.push(pid);
      todo.push(...(children.get(pid) ?? []));
    }
  }
  return tree;
}

/** The argument vector a process was started with. */
export function cmdline(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return [];
  }
}
