import type { Logger } from 'pino';
import type { Adoptee } from '../release/release-set.ts';
import { checkIdentity, observeProcess, type ObservedProcess } from '../runtime/process-identity.ts';
import type { ReleaseState, RunningInstance, Store } from '../store/store.ts';
import { reapOrphans } from './orphans.ts';

// What a start after a crash of the daemon does with what the crashed one left: the live releases'
// instances still running are adopted (they keep serving, not restarted), everything else is stopped,
// and a deployment it was running ends rolled back to the release that was live, recorded.

export interface AdoptionPlan {
  /** Per service: the live release's instances to serve through again. */
  adopt: Map<string, Adoptee[]>;
  /** Instances of a live release that cannot be verified, and why: stopped like any orphan. */
  refused: { id: string; why: string }[];
}

/** Which recorded instances to adopt: a live release's, whose process is verifiably the one zdd started. Pure over `observe`. */
export function planAdoption(rows: readonly RunningInstance[], liveReleaseIds: ReadonlyMap<string, number>, scope: string, observe: (pid: number) => ObservedProcess | undefined): AdoptionPlan {
  const plan: AdoptionPlan = { adopt: new Map(), refused: [] };
  for (const r of rows) {
    if (liveReleaseIds.get(r.service) !== r.releaseId) continue;
    if (r.pid === null || r.startTime === null) {
      plan.refused.push({ id: r.id, why: 'no pid and start time recorded' });
      continue;
    }
    const verdict = checkIdentity({ id: r.id, scope, pid: r.pid, startTime: r.startTime }, observe(r.pid));
    if (!verdict.same) {
      plan.refused.push({ id: r.id, why: verdict.why });
      continue;
    }
    const list = plan.adopt.get(r.service) ?? [];
    list.push({ id: r.id, pid: r.pid, port: r.port, startTime: r.startTime, startedAt: r.startedAt });
    plan.adopt.set(r.service, list);
  }
  return plan;
}

/**
 * Before this daemon starts anything: decide which instances a crashed daemon left to adopt, and stop the
 * others (other releases' — a canary's, a standby's — and those not verified) with all they started.
 */
export async function recoverInstances(store: Store, log: Logger, scope: string, services: readonly string[]): Promise<Map<string, Adoptee[]>> {
  const live = new Map<string, number>();
  for (const name of services) {
    const r = store.liveRelease(name);
    if (r) live.set(name, r.id);
  }
  const plan = planAdoption(store.runningInstances(), live, scope, observeProcess);
  for (const { id, why } of plan.refused) log.warn({ instance: id }, `not adopting ${id}: ${why}`);
  const kept = new Set([...plan.adopt.values()].flat().map((a) => a.id));
  await reapOrphans(store, log, scope, kept);
  return plan.adopt;
}

/** How a deployment the previous daemon did not finish ends, from what is live now. Pure. */
export function settlement(d: { kind: string; releaseId: number }, live: { id: number; number: number } | undefined): { status: 'succeeded' | 'failed'; reason: string; releaseState: ReleaseState | undefined } {
  if (live && live.id === d.releaseId) {
    return { status: 'succeeded', reason: `zdd stopped during the deployment, after release ${live.number} went live: it stays live`, releaseState: undefined };
  }
  const back = live ? `rolled back to release ${live.number}` : 'no release was live';
  return {
    status: 'failed',
    reason: `zdd stopped during the deployment (the daemon crashed or was killed); ${back}`,
    // A deploy's new release never went live: it failed. A rollback's or restore's target is an old release.
    releaseState: d.kind === 'deploy' ? 'failed' : 'retired',
  };
}

/**
 * Deployments the previous daemon left running end now, recorded, so that no release stays `canary`,
 * `pending` or `standby` without instances: the release that was live stays live (its instances adopted
 * or restarted), the interrupted one is rolled back.
 */
export function settleInterrupted(store: Store, log: Logger, services: readonly string[]): void {
  for (const d of store.unfinishedDeployments()) {
    const live = store.liveRelease(d.service);
    const s = settlement(d, live);
    store.finishDeployment(d.id, s.status, s.reason);
    if (s.releaseState) {
      const r = store.release(d.releaseId);
      if (r && r.state !== 'live' && r.state !== 'failed') store.setReleaseState(d.releaseId, s.releaseState);
    }
    store.addEvent({ service: d.service, deploymentId: d.id, type: s.status, message: `${d.kind} #${d.id}: ${s.reason}` });
    log.warn({ service: d.service, deployment: d.id }, `deployment #${d.id} of ${d.service}: ${s.reason}`);
  }
  // Releases that only ran beside the live one (a canary, a warm standby) do not run any more.
  for (const name of services) {
    const live = store.liveRelease(name);
    for (const r of store.releases(name)) {
      if (r.id === live?.id) continue;
      if (r.state === 'canary' || r.state === 'pending') store.setReleaseState(r.id, 'failed');
      else if (r.state === 'standby' || r.state === 'live') store.setReleaseState(r.id, 'retired');
    }
  }
}
