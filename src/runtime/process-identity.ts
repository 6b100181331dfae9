import { readFileSync } from 'node:fs';

/**
 * Which process an instance is, beyond its pid: a pid is reused once its process is gone, so a process
 * counts as an instance only if its start time (clock ticks since boot, field 22 of /proc/<pid>/stat) is
 * the one recorded when zdd started it and its environment carries the instance's ZDD_INSTANCE and
 * ZDD_SCOPE.
 */
export interface InstanceIdentity {
  id: string;
  scope: string;
  pid: number;
  startTime: number;
}

/** What /proc shows of a process now. */
export interface ObservedProcess {
  startTime: number;
  zombie: boolean;
  env: readonly string[];
}

export type IdentityVerdict = { same: true } | { same: false; why: string };

/** Whether the observed process is the recorded instance. Pure. */
export function checkIdentity(expected: InstanceIdentity, observed: ObservedProcess | undefined): IdentityVerdict {
  if (!observed) return { same: false, why: `no process ${expected.pid}` };
  if (observed.zombie) return { same: false, why: `process ${expected.pid} has exited` };
  if (observed.startTime !== expected.startTime) {
    return { same: false, why: `process ${expected.pid} started at tick ${observed.startTime}, not ${expected.startTime}: another process reused the pid` };
  }
  for (const mark of [`ZDD_INSTANCE=${expected.id}`, `ZDD_SCOPE=${expected.scope}`]) {
    if (!observed.env.includes(mark)) return { same: false, why: `process ${expected.pid} does not carry ${mark}` };
  }
  return { same: true };
}

/** A process's start time, or undefined when it is gone (or not Linux). */
export function processStartTime(pid: number): number | undefined {
  return readStat(pid)?.startTime;
}

/** The process as /proc shows it now; undefined when it is gone or cannot be read. */
export function observeProcess(pid: number): ObservedProcess | undefined {
  const stat = readStat(pid);
  if (!stat) return undefined;
  let env: string[] = [];
  try {
    env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
  } catch {
    // Another user's process, or gone: no marks to see.
  }
  return { ...stat, env };
}

/** Whether the process is still the one that started at `startTime` (not gone, not a zombie, pid not reused). */
export function stillRunning(pid: number, startTime: number): boolean {
  const stat = readStat(pid);
  return stat !== undefined && !stat.zombie && stat.startTime === startTime;
}

function readStat(pid: number): { startTime: number; zombie: boolean } | undefined {
  try {
    // The command name, in parentheses, may itself hold spaces and parentheses: fields follow the last ')'.
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { startTime: Number(fields[19]), zombie: fields[0] === 'Z' };
  } catch {
    return undefined;
  }
}
