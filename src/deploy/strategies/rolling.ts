import type { RollingSpec } from '../../config/schema.ts';
import { ZddError } from '../../errors.ts';
import type { Member, ReleaseSet } from '../../release/release-set.ts';
import type { DeployContext } from '../context.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/** maxSurge / maxUnavailable as instance counts: percentages of replicas, surge rounded up, unavailable down. */
export function rollingBounds(spec: Pick<RollingSpec, 'maxSurge' | 'maxUnavailable'>, replicas: number): { surge: number; unavailable: number } {
  const count = (v: number | string, round: (x: number) => number) =>
    typeof v === 'number' ? v : round((replicas * Number.parseInt(v, 10)) / 100);
  const surge = count(spec.maxSurge, Math.ceil);
  const unavailable = Math.min(replicas - 1, count(spec.maxUnavailable, Math.floor));
  // Both zero could never make progress; one extra instance at a time is the safe reading.
  return surge === 0 && unavailable <= 0 ? { surge: 1, unavailable: 0 } : { surge, unavailable: Math.max(0, unavailable) };
}

/** The next move of a rolling update, from the counts alone. */
export function nextBatch(o: { replicas: number; surge: number; unavailable: number; oldCount: number; oldServing: number; newCount: number; newServing: number }): { stopOld: number; startNew: number } {
  const minServing = o.replicas - o.unavailable;
  // Old instances that serve nothing can always go; serving ones only while the minimum still holds.
  const idleOld = o.oldCount - o.oldServing;
  const spare = Math.max(0, o.oldServing + o.newServing - minServing);
  const stopOld = Math.min(o.oldCount, idleOld + spare);
  const startNew = Math.max(0, Math.min(o.replicas - o.newCount, o.replicas + o.surge - (o.oldCount - stopOld) - o.newCount));
  return { stopOld, startNew };
}

class RolloutFailure extends ZddError {
  constructor(message: string) {
    super('ROLLOUT_FAILED', message);
  }
}

/**
 * Replace instances in batches: start up to maxSurge new ones, wait until they are healthy, move traffic,
 * drain and stop old ones, never letting healthy serving instances drop below replicas − maxUnavailable.
 */
export function rolling(spec: RollingSpec): Strategy {
  return { name: 'rolling', run: (ctx) => runRolling(ctx, spec) };
}

async function runRolling(ctx: DeployContext, spec: RollingSpec): Promise<StrategyResult> {
  const replicas = ctx.config.replicas;
  const { surge, unavailable } = rollingBounds(spec, replicas);
  const old = ctx.service.live!;
  const next = ctx.newSet();
  ctx.service.admit(next);
  let failure: string | undefined;
  const onCrash = (m: Member, how: string) => (failure ??= `new instance ${m.instance.id} ${how} during the rollout`);
  next.on('crash', onCrash);
  const route = (leaving: Member[] = []) => {
    const oldServing = old.healthyCount - leaving.filter((m) => m.target.state === 'healthy').length;
    const total = oldServing + next.healthyCount;
    const newWeight = total === 0 ? 0 : (100 * next.healthyCount) / total;
    ctx.split(newWeight >= 100 ? [{ set: next, weight: 100 }] : [{ set: next, weight: newWeight }, { set: old, weight: 100 - newWeight }]);
    return { oldServing, newServing: next.healthyCount };
  };
  ctx.report('plan', 'info', `${replicas} replica(s), maxSurge ${surge}, maxUnavailable ${unavailable}: at least ${replicas - unavailable} healthy instance(s) serve throughout`);
  let batch = 0;
  try {
    while (next.size < replicas || old.size > 0) {
      if (failure) throw new RolloutFailure(failure);
      batch++;
      const move = nextBatch({ replicas, surge, unavailable, oldCount: old.size, oldServing: old.healthyCount, newCount: next.size, newServing: next.healthyCount });
      if (move.stopOld === 0 && move.startNew === 0) throw new RolloutFailure(`no progress possible (old ${old.size}, new ${next.size}); check maxSurge/maxUnavailable`);
      const leaving = old.victims(move.stopOld);
      const serving = route(leaving);
      const stopping = Promise.all(leaving.map((m) => old.stopMember(m, ctx.config.drainTimeout)));
      ctx.report(`batch ${batch}`, 'started', `stop ${leaving.length} old, start ${move.startNew} new; serving ${serving.oldServing} old + ${serving.newServing} new`);
      if (move.startNew > 0) {
        try {
          await next.grow(move.startNew, ctx.signal);
          // Before the first new instances get traffic: the deploy's smoke test (once).
          await ctx.smoke(next);
        } catch (err) {
          if (ctx.signal.aborted) throw err;
          throw new RolloutFailure((err as Error).message);
        }
      }
      const after = route();
      ctx.report(`batch ${batch}`, 'done', `serving ${after.oldServing} old + ${after.newServing} new (minimum ${replicas - unavailable})`);
      // Draining old instances no longer count; waiting for them keeps the surge honest.
      await stopping;
    }
    if (failure) throw new RolloutFailure(failure);
    next.off('crash', onCrash);
    ctx.goLive(next, 0);
    return { status: 'succeeded' };
  } catch (err) {
    next.off('crash', onCrash);
    const aborted = ctx.signal.aborted;
    if (!(err instanceof RolloutFailure) && !aborted) throw err;
    const reason = aborted ? (ctx.signal.reason as Error).message : (err as Error).message;
    if (spec.onFailure === 'pause' && !aborted) {
      ctx.report('paused', 'started', `${reason}; the rollout is paused as configured (onFailure: pause): zdd abort to revert`);
      await waitForAbort(ctx);
    }
    await revert(ctx, old, next, replicas);
    ctx.report('revert', 'done', `release ${old.release.number} serves all traffic again`);
    return { status: ctx.signal.aborted ? 'aborted' : 'rolled-back', reason: ctx.signal.aborted ? (ctx.signal.reason as Error).message : reason };
  }
}

/** Back to the previous release at full size: its instances first, then all traffic, then the new ones go. */
async function revert(ctx: DeployContext, old: ReleaseSet, next: ReleaseSet, replicas: number): Promise<void> {
  ctx.report('revert', 'started', `back to release ${old.release.number}`);
  if (old.size < replicas) {
    try {
      await old.grow(replicas - old.size);
    } catch (err) {
      ctx.report('revert', 'failed', `could not restore release ${old.release.number} to ${replicas} instance(s): ${(err as Error).message}`);
    }
  }
  ctx.split([{ set: old, weight: 100 }]);
  void ctx.retire(next);
}

function waitForAbort(ctx: DeployContext): Promise<void> {
  return new Promise((resolve) => {
    if (ctx.signal.aborted) return resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
}
