// Continuous canary analysis: feed every proxied request, call evaluate() as
// often as you like (every 250 ms is fine — every test is always-valid, so
// looking often does not raise the false-rollback rate).
//
// Alpha budget (total = settings.alpha): half to the error-rate family, half
// to latency. Within errors, the ceiling test (if set) takes half of its
// family's share. Within latency, canary's lower and stable's upper p99 bounds
// take half each (spread over weight steps); the p99 ceiling reuses the
// canary bounds for free.
//
// Weight steps: call setWeight() whenever the proxy changes the canary's
// share. Comparisons are then made within each step (see stratum.ts), which
// keeps a shared incident during a high-weight step from looking like a
// canary regression. Without setWeight() the whole window is one step.

import { resolveSettings, type AnalysisSettings } from './config.ts';
import { errorRateVerdict, maxErrorRateVerdict } from './error-tests.ts';
import { formatAlpha, formatMs, formatRate } from './format.ts';
import { bucketIndex } from './histogram.ts';
import { latencyVerdict, maxP99Verdict, P99 } from './latency-tests.ts';
import { Stratum } from './stratum.ts';
import { combineOutcomes, type MetricVerdict, type Outcome, type Verdict } from './verdict.ts';
import { ReleaseSample } from './window.ts';

export type { MetricVerdict, Outcome, Verdict } from './verdict.ts';
export type Release = 'stable' | 'canary';

/** Beyond this many weight steps, further changes extend the last step (still valid, just unstratified). */
export const MAX_STEPS = 32;

export interface AlphaBudget {
  errorRate: number;
  maxErrorRate: number;
  /** Each of the two p99 bound families (canary lower, stable upper), summed over steps. */
  p99Bound: number;
}

export function splitAlpha(settings: AnalysisSettings): AlphaBudget {
  const errorFamily = settings.alpha / 2;
  const hasCeiling = settings.maxErrorRate !== undefined;
  return {
    errorRate: hasCeiling ? errorFamily / 2 : errorFamily,
    maxErrorRate: hasCeiling ? errorFamily / 2 : 0,
    p99Bound: settings.alpha / 4,
  };
}

export class CanaryAnalyzer {
  readonly settings: Readonly<AnalysisSettings>;
  /** Whole-window samples (all steps). */
  readonly stable = new ReleaseSample();
  readonly canary = new ReleaseSample();
  readonly #alpha: AlphaBudget;
  readonly #scratch: Float64Array;
  #steps: Stratum[] = [];
  #current!: Stratum;
  #failed: Verdict | undefined;

  constructor(settings?: Partial<AnalysisSettings>) {
    this.settings = Object.freeze(resolveSettings(settings));
    this.#alpha = splitAlpha(this.settings);
    this.#scratch = new Float64Array(this.canary.layout.size);
    this.reset();
  }

  /** O(1). `ok` is false for a 5xx response or a connection error. */
  record(release: Release, ok: boolean, latencyMs: number): void {
    const bucket = bucketIndex(this.canary.layout, latencyMs); // one log per request, shared by both samples
    if (release === 'canary') {
      this.canary.recordBucket(ok, bucket);
      this.#current.canary.recordBucket(ok, bucket);
    } else {
      this.stable.recordBucket(ok, bucket);
      this.#current.stable.recordBucket(ok, bucket);
    }
  }

  /**
   * Tell the analyzer the canary's traffic share (0..1) whenever the proxy
   * changes it. A different value starts a new comparison step; the window
   * (and all evidence so far) carries on.
   */
  setWeight(canaryWeight: number): void {
    if (!(canaryWeight >= 0 && canaryWeight <= 1)) throw new RangeError(`canary weight must be in [0, 1] (got ${canaryWeight})`);
    const current = this.#current;
    if (current.weight === canaryWeight) return;
    if (current.requests === 0 || this.#steps.length >= MAX_STEPS) {
      current.weight = canaryWeight; // nothing recorded at the old weight (or out of steps): relabel
      return;
    }
    current.close(this.settings.maxErrorRateIncrease, this.#scratch);
    this.#startStep(canaryWeight);
  }

  /** Number of weight steps in the current window. */
  get steps(): number {
    return this.#steps.length;
  }

  /** O(histogram buckets). Once `fail` is returned it is returned until reset(). */
  evaluate(): Verdict {
    if (this.#failed) return this.#failed;
    const { settings, canary, stable } = this;
    const alpha = this.#alpha;
    this.#current.updateP99Bounds(this.#scratch);

    const metrics: MetricVerdict[] = [errorRateVerdict(canary, stable, this.#steps, settings, alpha.errorRate)];
    if (settings.maxErrorRate !== undefined) {
      metrics.push(maxErrorRateVerdict(canary, settings.maxErrorRate, settings, alpha.maxErrorRate));
    }
    metrics.push(latencyVerdict(canary, stable, this.#steps, settings, 2 * alpha.p99Bound));
    if (settings.maxP99Ms !== undefined) {
      metrics.push(maxP99Verdict(canary, this.#steps, settings.maxP99Ms, settings, alpha.p99Bound));
    }

    const outcome = combineOutcomes(metrics);
    const verdict: Verdict = {
      outcome,
      reason: this.#reason(outcome, metrics),
      metrics,
      canaryRequests: canary.requests,
      stableRequests: stable.requests,
    };
    if (outcome === 'fail') this.#failed = Object.freeze(verdict); // a rollback decision is never revoked
    return verdict;
  }

  /** True once a fail verdict has been reached (until reset). */
  get failed(): boolean {
    return this.#failed !== undefined;
  }

  /** Starts a new window (e.g. a new deploy): forgets all data, steps and any fail. */
  reset(): void {
    this.stable.reset();
    this.canary.reset();
    this.#steps = [];
    this.#failed = undefined;
    this.#startStep(undefined);
  }

  #startStep(weight: number | undefined): void {
    this.#current = new Stratum(this.#steps.length + 1, weight, this.#alpha.p99Bound);
    this.#steps.push(this.#current);
  }

  #reason(outcome: Outcome, metrics: readonly MetricVerdict[]): string {
    if (outcome === 'fail') {
      return metrics.filter((m) => m.outcome === 'fail').map((m) => m.detail).join('; and ');
    }
    const { canary, stable, settings } = this;
    const summary =
      `error rate ${formatRate(canary.errorRate())} on canary vs ${formatRate(stable.errorRate())} on stable, ` +
      `p99 ${formatMs(canary.quantile(P99))} vs ${formatMs(stable.quantile(P99))}`;
    if (outcome === 'pass') {
      return (
        `no regression detected in ${canary.requests} canary and ${stable.requests} stable requests: ${summary} ` +
        `(always-valid tests, alpha ${formatAlpha(settings.alpha)})`
      );
    }
    if (canary.requests === 0) return 'no canary requests yet';
    const waiting = metrics.find((m) => m.outcome === 'inconclusive');
    const short = canary.requests < settings.minRequests || stable.requests < settings.minRequests;
    return short
      ? `not enough data to pass yet: ${canary.requests} canary and ${stable.requests} stable requests of the ` +
          `${settings.minRequests} needed on each; so far ${summary}`
      : `not enough data to pass yet: ${waiting?.detail ?? summary}`;
  }
}
