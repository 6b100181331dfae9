import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { cgroupDirOf, cgroupPids, cgroupsNamed, killCgroup, removeCgroup } from '../runtime/cgroups.ts';
import { membersOf, scanProcesses, signalAll } from '../runtime/proc-scan.ts';
import { cgroupPrefix } from '../runtime/process-tracker.ts';
import type { Store } from '../store/store.ts';

/** How long the start waits for what it killed to be gone. */
const reapTimeoutMs = 5_000;

/**
 * Instances a previous daemon of this data dir left running (it was killed before it could stop them),
 * with everything they started, even processes that left their process group. A pid alone is never
 * trusted: a process counts as one of this data dir's instances only if its environment says so
 * (ZDD_INSTANCE for a recorded pid, ZDD_SCOPE for the rest), it descends from one that does, or it sits
 * in a cgroup named for this data dir. Called before this daemon starts any instance of its own.
 * The instances in `keep` (adopted: recovery.ts), their processes and their cgroups are left alone.
 */
export async function reapOrphans(store: Store, log: Logger, scope: string, keep: ReadonlySet<string> = new Set()): Promise<number> {
  const known = new Map<number, number>();
  const find = () => {
    const processes = scanProcesses();
    const kept = new Set([...keep].flatMap((id) => membersOf(processes, [`ZDD_INSTANCE=${id}`, `ZDD_SCOPE=${scope}`]).map((p) => p.pid)));
    const found = membersOf(processes, [`ZDD_SCOPE=${scope}`], known).filter((p) => !kept.has(p.pid));
    for (const p of found) known.set(p.pid, p.startTime);
    return found.map((p) => p.pid);
  };
  const marked = find();
  let reaped = 0;
  for (const { id, pid } of store.runningInstances()) {
    if (keep.has(id)) continue;
    if (pid && isInstance(pid, id)) {
      try {
        process.kill(-pid, 'SIGKILL');
        reaped++;
        log.warn({ instance: id, pid }, 'stopped an instance left running by a previous zdd');
      } catch {
        // gone meanwhile
      }
    }
    store.recordInstanceStop(id, 'left behind by a previous daemon');
  }

  // The cgroups they ran in, found from their processes (wherever the previous daemon was) and next to ours.
  const prefix = cgroupPrefix(scope);
  const ours = (dir: string) => path.basename(dir).startsWith(prefix) && !keep.has(path.basename(dir).slice(prefix.length));
  const cgroups = new Set<string>();
  for (const pid of marked) {
    const dir = cgroupDirOf(pid);
    if (dir && ours(dir)) cgroups.add(dir);
  }
  const own = cgroupDirOf('self');
  if (own) for (const dir of cgroupsNamed(own, prefix)) if (ours(dir)) cgroups.add(dir);

  const deadline = Date.now() + reapTimeoutMs;
  for (;;) {
    const pids = [...find(), ...[...cgroups].flatMap(cgroupPids)];
    if (pids.length === 0) for (const dir of cgroups) if (removeCgroup(dir)) cgroups.delete(dir);
    if ((pids.length === 0 && cgroups.size === 0) || Date.now() >= deadline) break;
    for (const dir of cgroups) killCgroup(dir);
    signalAll(pids, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (marked.length > 0) log.warn({ pids: marked }, `stopped ${marked.length} process(es) of instances a previous zdd left behind, escaped ones included`);
  return reaped;
}

function isInstance(pid: number, id: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`ZDD_INSTANCE=${id}`);
  } catch {
    return false;
  }
}
