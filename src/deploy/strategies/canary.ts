import { CanaryAnalyzer, type ReleaseHistory, type Verdict } from '../../analysis/analyzer.ts';
import type { AnalysisSettings } from '../../analysis/config.ts';
import { formatDuration } from '../../config/duration.ts';
import type { AnalysisSpec, CanarySpec } from '../../config/schema.ts';
import { ZddError } from '../../errors.ts';
import type { ReleaseSet } from '../../release/release-set.ts';
import type { DeployContext } from '../context.ts';
import type { AnalysisSnapshot } from '../service-state.ts';
import type { Strategy, StrategyResult } from '../strategy.ts';

/** The canary proved worse than stable (or broke): all traffic goes back. */
class CanaryFailure extends ZddError {
  constructor(message: string) {
    super('CANARY_FAILED', message);
  }
}

/** How often a holding step reports live numbers to whoever watches. */
const progressEveryMs = 2_000;

export function analysisSettings(a: AnalysisSpec): Partial<AnalysisSettings> {
  return {
    alpha: a.alpha,
    passAlpha: a.passAlpha,
    maxErrorRateIncrease: a.maxErrorRateIncrease,
    maxClientErrorIncrease: a.maxClientErrorIncrease,
    maxRedirectIncrease: a.maxRedirectIncrease,
    latencyRatio: a.latencyRatio,
    latencyMinIncreaseMs: a.latencyMinIncrease,
    maxErrorRate: a.maxErrorRate,
    maxP99Ms: a.maxP99,
    minRequests: a.minRequests,
    guardRails: a.guardRails,
  };
}

/** What the service's earlier releases showed while they were live: the guard rails' reference. */
function releaseHistory(ctx: DeployContext): ReleaseHistory[] {
  return ctx.store
    .releases(ctx.service.name, 12)
    .filter((r) => r.id !== ctx.release.id && r.metrics !== null)
    .slice(0, 10)
    .map((r) => r.metrics!);
}

/** Canary instances for a share of traffic: the replicas that share would need, at least one. */
export function canaryScale(replicas: number, weight: number): number {
  return Math.max(1, Math.ceil((replicas * weight) / 100));
}

/**
 * Steps of rising weight, each held while always-valid analysis compares canary with stable; a failed
 * analysis, a crash or an unhealthy canary instance sends all traffic back to stable at once.
 */
export function canary(spec: CanarySpec): Strategy {
  return { name: 'canary', run: (ctx) => runCanary(ctx, spec) };
}

async function runCanary(ctx: DeployContext, spec: CanarySpec): Promise<StrategyResult> {
  const stable = ctx.service.live!;
  const replicas = ctx.config.replicas;
  const analyzer = new CanaryAnalyzer(analysisSettings(spec.analysis), releaseHistory(ctx));
  const canaryNumber = ctx.release.number;
  const stableNumber = stable.release.number;
  let set: ReleaseSet | undefined;
  ctx.service.plane.observer = (o) => {
    if (o.release === canaryNumber) analyzer.record({ release: 'canary', status: o.status, latencyMs: o.latencyMs, routing: o.routing });
    // A stable answer to a request the canary failed is not a sample of stable's own traffic.
    else if (o.release === stableNumber && !o.retry) analyzer.record({ release: 'stable', status: o.status, latencyMs: o.latencyMs, routing: o.routing });
  };
  try {
    for (let i = 0; i < spec.steps.length; i++) {
      const step = spec.steps[i]!;
      const name = `step ${i + 1}/${spec.steps.length}`;
      const want = canaryScale(replicas, step.weight);
      if (!set) {
        set = await ctx.startSet(want);
        ctx.store.setReleaseState(set.release.id, 'canary');
      } else if (set.size < want) {
        ctx.report('scale', 'started', `canary to ${want} instance(s)`);
        await set.grow(want - set.size, ctx.signal);
        ctx.report('scale', 'done', `canary has ${want} instance(s)`);
      }
      analyzer.setWeight(step.weight / 100);
      ctx.split([{ set, weight: step.weight }, { set: stable, weight: 100 - step.weight }], spec.retryOnStable);
      const holding = step.pause === undefined ? 'until promoted (zdd promote)' : `for ${formatDuration(step.pause)}`;
      ctx.report(name, 'started', `canary (release ${canaryNumber}) gets ${step.weight}% of traffic, held ${holding}`);
      const how = await hold(ctx, set, analyzer, step.weight, step.pause, spec.analysis, name);
      ctx.report(name, 'done', `${how === 'analysis' ? 'passed' : 'promoted by user'}: ${analyzer.evaluate().reason}`);
      if (how === 'full') break;
    }
    if (set!.size < replicas) {
      ctx.report('scale', 'started', `release ${canaryNumber} to ${replicas} instance(s)`);
      await set!.grow(replicas - set!.size, ctx.signal);
    }
    ctx.service.plane.observer = undefined;
    ctx.goLive(set!, 0);
    return { status: 'succeeded', reason: analyzer.evaluate().reason };
  } catch (err) {
    ctx.service.plane.observer = undefined;
    // Stable takes everything back in one switch; the canary drains behind it.
    ctx.split([{ set: stable, weight: 100 }]);
    if (set) void ctx.retire(set);
    const aborted = ctx.signal.aborted;
    if (!(err instanceof CanaryFailure) && !aborted) throw err;
    const reason = aborted ? (ctx.signal.reason as Error).message : (err as Error).message;
    ctx.report('rollback', aborted ? 'info' : 'failed', `all traffic back on release ${stableNumber}: ${reason}`);
    return { status: aborted ? 'aborted' : 'rolled-back', reason };
  }
}

type Ended = 'analysis' | 'next' | 'full';

/** What a holding step does after one look at the analysis: the rule alone, from plain values. */
export type HoldDecision = 'fail' | 'pass' | 'wait' | 'pause';

/**
 * A failed analysis ends the step at once; a pass ends it only once the pause is over; past the pause
 * plus the deadline without either, the deployment pauses at this weight for a person to decide (it
 * neither fails a canary that was not shown worse nor promotes one that was not shown good). A step
 * without pause waits for `zdd promote` (only a failure ends it).
 */
export function decideHold(o: { outcome: Verdict['outcome']; heldMs: number; pauseMs: number | undefined; deadlineMs: number }): HoldDecision {
  if (o.outcome === 'fail') return 'fail';
  if (o.pauseMs === undefined) return 'wait';
  if (o.heldMs >= o.pauseMs && o.outcome === 'pass') return 'pass';
  if (o.heldMs >= o.pauseMs + o.deadlineMs) return 'pause';
  return 'wait';
}

/**
 * Holds a step: ends when its pause is over and the analysis passes (or when promoted); throws
 * CanaryFailure when the analysis fails or a canary instance breaks. Without a verdict by the deadline
 * the deployment pauses (zdd deploy exits 4) and holds on: a later failure still rolls back, a later pass
 * moves on, `zdd promote` and `zdd abort` decide.
 */
function hold(ctx: DeployContext, set: ReleaseSet, analyzer: CanaryAnalyzer, weight: number, pause: number | undefined, a: AnalysisSpec, name: string): Promise<Ended> {
  const started = Date.now();
  let lastProgress = started;
  let paused = false;
  return new Promise<Ended>((resolve, reject) => {
    const finish = (fn: () => void) => {
      clearInterval(timer);
      set.off('crash', onCrash);
      set.off('health', onHealth);
      ctx.signal.removeEventListener('abort', onAbort);
      ctx.active.promote = undefined;
      if (paused) ctx.resumeDeployment();
      fn();
    };
    const onCrash = (m: { instance: { id: string } }, how: string) =>
      finish(() => reject(new CanaryFailure(`canary instance ${m.instance.id} ${how} while serving`)));
    const onHealth = (m: { instance: { id: string }; checker: { lastError: string | undefined } }, state: string) => {
      if (state === 'unhealthy') finish(() => reject(new CanaryFailure(`canary instance ${m.instance.id} failed its health checks: ${m.checker.lastError}`)));
    };
    const onAbort = () => finish(() => reject(ctx.signal.reason as Error));
    const tick = () => {
      const v = analyzer.evaluate();
      ctx.active.analysis = snapshot(v, analyzer, weight);
      const now = Date.now();
      const held = now - started;
      const decision = decideHold({ outcome: v.outcome, heldMs: held, pauseMs: pause, deadlineMs: a.deadline });
      if (decision === 'fail') {
        ctx.verdict('fail');
        return finish(() => reject(new CanaryFailure(v.reason)));
      }
      if (decision === 'pass') {
        ctx.verdict('pass');
        return finish(() => resolve('analysis'));
      }
      if (decision === 'pause' && !paused) {
        paused = true;
        ctx.verdict('inconclusive');
        ctx.pauseDeployment(
          `paused: not enough traffic to decide (n=${v.canaryUnits} canary, ${v.stableUnits} stable clients after ${formatDuration(held)} at ${weight}%); ${v.detectable}`,
        );
      }
      if (now - lastProgress >= progressEveryMs) {
        lastProgress = now;
        ctx.progress(`${name} at ${weight}%: ${v.reason}`);
      }
    };
    ctx.active.promote = (full) => {
      finish(() => resolve(full ? 'full' : 'next'));
      return true;
    };
    set.on('crash', onCrash);
    set.on('health', onHealth);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const timer = setInterval(tick, a.interval);
    if (ctx.signal.aborted) onAbort();
  });
}

function snapshot(v: Verdict, analyzer: CanaryAnalyzer, weight: number): AnalysisSnapshot {
  const side = (s: typeof analyzer.canary) => ({ requests: s.requests, errorRate: s.errorRate() ?? null, p99Ms: s.quantile(0.99) ?? null });
  return {
    at: Date.now(),
    outcome: v.outcome,
    reason: v.reason,
    canaryWeight: weight,
    canary: side(analyzer.canary),
    stable: side(analyzer.stable),
    units: { canary: v.canaryUnits, stable: v.stableUnits },
    detectable: v.detectable,
    heavyHitter: v.heavyHitter ?? null,
    bounds: analysisBounds(analyzer.settings, analyzer.stable.errorRate() ?? null, analyzer.stable.quantile(0.99) ?? null),
  };
}

/** The lines a chart draws for the canary against stable's numbers (see AnalysisSnapshot.bounds). */
export function analysisBounds(s: Readonly<AnalysisSettings>, stableErrorRate: number | null, stableP99Ms: number | null): AnalysisSnapshot['bounds'] {
  const ceiling = (v: number | null, max: number | undefined) => (v === null ? (max ?? null) : Math.min(v, max ?? Infinity));
  return {
    errorRate: ceiling(stableErrorRate === null ? null : Math.min(1, stableErrorRate + s.maxErrorRateIncrease), s.maxErrorRate),
    p99Ms: ceiling(stableP99Ms === null ? null : Math.max(stableP99Ms * s.latencyRatio, stableP99Ms + s.latencyMinIncreaseMs), s.maxP99Ms),
  };
}
