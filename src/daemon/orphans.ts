import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { Store } from '../store/store.ts';

/**
 * Instances a previous daemon left running (it was killed before it could stop them). A pid is only
 * trusted if the process still carries that instance's ZDD_INSTANCE in its environment.
 */
export function reapOrphans(store: Store, log: Logger): number {
  let reaped = 0;
  for (const { id, pid } of store.runningInstances()) {
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
  return reaped;
}

function isInstance(pid: number, id: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`ZDD_INSTANCE=${id}`);
  } catch {
    return false;
  }
}
