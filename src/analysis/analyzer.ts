// Continuous canary analysis, v2: feed every proxied request, call evaluate() as often as you like (every
// 250 ms is fine: every test is anytime-valid, looking often does not raise the false-rollback rate).
//
// The unit is the client (its sticky bucket), or the request when it was routed on a fresh draw; each
// comparison is a randomization test by betting (betting.ts, comparison.ts), valid whatever one client
// does. Metrics: the share of 5xx/connection errors, of 4xx, of 3xx, and of answers slower than stable's
// p50/p90/p99 (scaled by latencyRatio and latencyMinIncrease), each with a margin; optional ceilings; guard
// rails from the releases before. Fail: any metric shown worse than its margin (alpha split over the
// metrics). Pass: in the current weight step, every comparison shown NOT worse than its margin
// (non-inferiority at passAlpha). Anything else is inconclusive; too little data is never a pass.

import { Ceiling } from './ceiling.ts';
import { Comparison } from './comparison.ts';
import { resolveSettings, type AnalysisSettings } from './config.ts';
import { logMeanExp } from './betting.ts';
import { formatMs, formatPoints, formatRate } from './format.ts';
import { HeavyHitters } from './heavy-hitters.ts';
import { UnitTracker, type Routing } from './units.ts';
import type { MetricVerdict, Outcome, Verdict } from './verdict.ts';
import { ReleaseSample } from './window.ts';

export type { MetricVerdict, Outcome, Verdict } from './verdict.ts';
export type Release = 'stable' | 'canary';

/** One proxied request, as the proxy saw it. */
export interface Observation {
  release: Release;
  /** HTTP status; 0 for a connection error. */
  status: number;
  latencyMs: number;
  /** How it was routed; without it (no split) it counts in the numbers but is no analysis unit. */
  routing: Routing | undefined;
}

/** What the releases before this rollout showed (their life's error rate and p99), for the guard rails. */
export interface ReleaseHistory {
  errorRate: number;
  p99Ms: number;
  requests: number;
}

/** Stable answers needed before slow-answer thresholds are set, then again at every doubling. */
const firstThresholdAt = 50;
const latencyLevels = [0.5, 0.9, 0.99] as const;

class LatencyLevel {
  readonly level: number;
  readonly comparison: Comparison;
  threshold: number | undefined;
  epoch = 0;

  constructor(level: number) {
    this.level = level;
    // The canary may be slow (past the threshold) up to the level's own tail share more often than stable.
    this.comparison = new Comparison(1 - level);
  }
}

/** An absolute ceiling on the canary: on its errors, or (latencyMs set) on its share of answers slower than that. */
interface CeilingTest {
  metric: 'max-error-rate' | 'max-p99' | 'guard-error-rate' | 'guard-p99';
  test: Ceiling;
  latencyMs?: number;
  label: string;
}

export class CanaryAnalyzer {
  readonly settings: Readonly<AnalysisSettings>;
  /** Every request, whole window: the numbers people read. */
  readonly stable = new ReleaseSample();
  readonly canary = new ReleaseSample();
  readonly #units = new UnitTracker();
  readonly #errors: Comparison;
  readonly #clientErrors: Comparison;
  readonly #redirects: Comparison;
  readonly #latency = latencyLevels.map((l) => new LatencyLevel(l));
  readonly #ceilings: CeilingTest[] = [];
  readonly #hitters = { canary: new HeavyHitters(), stable: new HeavyHitters() };
  #nextThreshold = firstThresholdAt;
  #failed: Verdict | undefined;

  constructor(settings?: Partial<AnalysisSettings>, history: readonly ReleaseHistory[] = []) {
    this.settings = Object.freeze(resolveSettings(settings));
    const s = this.settings;
    this.#errors = new Comparison(s.maxErrorRateIncrease);
    this.#clientErrors = new Comparison(s.maxClientErrorIncrease);
    this.#redirects = new Comparison(s.maxRedirectIncrease);
    if (s.maxErrorRate !== undefined) this.#ceilings.push({ metric: 'max-error-rate', test: new Ceiling(s.maxErrorRate), label: `the ceiling maxErrorRate ${formatRate(s.maxErrorRate)}` });
    // p99 under a ceiling: at most 1% of answers above it.
    if (s.maxP99Ms !== undefined) this.#ceilings.push({ metric: 'max-p99', test: new Ceiling(0.01), latencyMs: s.maxP99Ms, label: `maxP99 ${formatMs(s.maxP99Ms)}` });
    const known = history.filter((h) => h.requests >= 1_000);
    if (s.guardRails && known.length >= 2) {
      // Against a ratchet of small regressions: no worse than the best of the recent releases, by the margins.
      const bestRate = Math.min(...known.map((h) => h.errorRate));
      const bestP99 = Math.min(...known.map((h) => h.p99Ms));
      const rate = Math.min(0.99, bestRate + s.maxErrorRateIncrease);
      const p99 = Math.max(bestP99 * s.latencyRatio, bestP99 + s.latencyMinIncreaseMs);
      this.#ceilings.push({ metric: 'guard-error-rate', test: new Ceiling(rate), label: `the guard rail ${formatRate(rate)} (best recent release ${formatRate(bestRate)} + ${formatPoints(s.maxErrorRateIncrease)})` });
      this.#ceilings.push({ metric: 'guard-p99', test: new Ceiling(0.01), latencyMs: p99, label: `the guard rail p99 ${formatMs(p99)} (best recent release ${formatMs(bestP99)})` });
    }
    this.#units.startStep(0);
  }

  /**
   * The canary's share of traffic (0..1), whenever the proxy changes it. A new weight starts a new step:
   * a client counts once per step, and each step must earn its own pass.
   */
  setWeight(weight: number): void {
    if (!(weight >= 0 && weight <= 1)) throw new RangeError(`canary weight must be in [0, 1] (got ${weight})`);
    this.#units.startStep(weight);
    // Nothing compared yet in this step (the first weight): no new step, just the weight.
    const { canary, stable } = this.#errors.currentUnits();
    if (canary + stable > 0) for (const c of this.#comparisons()) c.startStep();
  }

  /** O(1) but for a threshold update now and then. */
  record(o: Observation): void {
    const connectionError = o.status === 0;
    const error = connectionError || o.status >= 500;
    const canary = o.release === 'canary';
    (canary ? this.canary : this.stable).record(!error, o.latencyMs);
    if (!canary && this.stable.requests >= this.#nextThreshold) this.#updateThresholds();
    if (!o.routing) return;
    if (error) this.#hitters[o.release].add(o.routing.bucket);
    const pi = this.#units.propensity(o.routing, canary);
    if (pi === undefined) return;
    this.#errors.add(canary, pi, error);
    this.#clientErrors.add(canary, pi, o.status >= 400 && o.status < 500);
    this.#redirects.add(canary, pi, o.status >= 300 && o.status < 400);
    for (const l of this.#latency) if (l.threshold !== undefined) l.comparison.add(canary, pi, o.latencyMs > l.threshold, l.epoch);
    if (canary) for (const c of this.#ceilings) c.test.add(c.latencyMs === undefined ? error : o.latencyMs > c.latencyMs);
  }

  /** Once `fail` is returned it is returned until a new analyzer. */
  evaluate(): Verdict {
    if (this.#failed) return this.#failed;
    const s = this.settings;
    const a = s.alpha;
    const ceilingAlpha = this.#ceilings.length > 0 ? (0.1 * a) / this.#ceilings.length : 0;
    const compared = this.#ceilings.length > 0 ? 0.9 * a : a;
    const metrics: MetricVerdict[] = [
      this.#compare('errors', this.#errors, compared * (4 / 9), 'error rate'),
      this.#compare('client-errors', this.#clientErrors, compared * (2 / 9), '4xx rate'),
      this.#compare('redirects', this.#redirects, compared * (1 / 9), '3xx rate'),
      this.#latencyVerdict(compared * (2 / 9)),
      ...this.#ceilings.map((c) => this.#ceilingVerdict(c, ceilingAlpha)),
    ];
    const failed = metrics.filter((m) => m.outcome === 'fail');
    const units = this.#errors.currentUnits();
    const enough = units.canary >= s.minRequests && units.stable >= s.minRequests;
    const comparisons = metrics.filter((m) => m.metric === 'errors' || m.metric === 'client-errors' || m.metric === 'redirects' || m.metric === 'latency');
    const outcome: Outcome = failed.length > 0 ? 'fail' : enough && comparisons.every((m) => m.outcome === 'pass') ? 'pass' : 'inconclusive';
    const heavyHitter = this.#heavyHitter();
    const detectable = this.#detectable(comparisons);
    const verdict: Verdict = {
      outcome,
      reason: this.#reason(outcome, metrics, units, enough, detectable, heavyHitter),
      metrics,
      canaryRequests: this.canary.requests,
      stableRequests: this.stable.requests,
      canaryUnits: units.canary,
      stableUnits: units.stable,
      detectable,
      heavyHitter,
    };
    if (outcome === 'fail') this.#failed = Object.freeze(verdict); // a rollback decision is never revoked
    return verdict;
  }

  get failed(): boolean {
    return this.#failed !== undefined;
  }

  #comparisons(): Comparison[] {
    return [this.#errors, this.#clientErrors, this.#redirects, ...this.#latency.map((l) => l.comparison)];
  }

  #updateThresholds(): void {
    const s = this.settings;
    for (const l of this.#latency) {
      const q = this.stable.quantile(l.level);
      if (q === undefined) continue;
      // Thresholds are fixed before the answers they judge: a new one starts a new group of units.
      l.threshold = Math.max(q * s.latencyRatio, q + s.latencyMinIncreaseMs);
      l.epoch++;
    }
    this.#nextThreshold *= 2;
  }

  #compare(metric: 'errors' | 'client-errors' | 'redirects', c: Comparison, alpha: number, what: string): MetricVerdict {
    const s = this.settings;
    const logE = c.logFailEvidence();
    const fail = logE >= Math.log(1 / alpha);
    const pass = c.logPassEvidence() >= Math.log(1 / s.passAlpha);
    const canary = c.canaryUnits > 0 ? c.canaryYes / c.canaryUnits : null;
    const stable = c.stableUnits > 0 ? c.stableYes / c.stableUnits : null;
    const bound = c.upperBound(s.passAlpha) ?? null;
    const values = `${what} ${formatRate(canary)} on canary vs ${formatRate(stable)} on stable (n=${c.canaryUnits} vs ${c.stableUnits} clients)`;
    const detail = fail
      ? `${values}; more than ${formatPoints(c.margin)} worse by an always-valid randomization test (e-value ${formatE(logE)} ≥ ${formatE(Math.log(1 / alpha))}, alpha ${+alpha.toPrecision(2)})`
      : pass
        ? `${values}: shown within ${formatPoints(c.margin)} of stable in this step`
        : `${values}: ${bound === null ? 'not yet shown' : `shown within ${formatPoints(bound)}, not yet`} within ${formatPoints(c.margin)}`;
    return { metric, outcome: fail ? 'fail' : pass ? 'pass' : 'inconclusive', canary, stable, margin: c.margin, evidence: Math.exp(logE), bound, alpha, detail };
  }

  #latencyVerdict(alpha: number): MetricVerdict {
    const s = this.settings;
    const active = this.#latency.filter((l) => l.threshold !== undefined);
    // The average of the levels' e-processes is one (they bet on the same units).
    const logE = active.length === 0 ? 0 : logMeanExp(this.#latency.map((l) => (l.threshold === undefined ? 0 : l.comparison.logFailEvidence())));
    const fail = logE >= Math.log(1 / alpha);
    const pass = active.length === latencyLevels.length && active.every((l) => l.comparison.logPassEvidence() >= Math.log(1 / s.passAlpha));
    const worst = [...active].sort((x, y) => y.comparison.logFailEvidence() - x.comparison.logFailEvidence())[0];
    const canaryP99 = this.canary.quantile(0.99) ?? null;
    const stableP99 = this.stable.quantile(0.99) ?? null;
    const p99s = `p99 ${formatMs(canaryP99)} on canary vs ${formatMs(stableP99)} on stable`;
    let detail: string;
    if (!worst) detail = `${p99s}: waiting for ${firstThresholdAt} stable answers to set what "slow" means`;
    else {
      const c = worst.comparison;
      const share = (x: number, n: number) => formatRate(n > 0 ? x / n : null);
      const slow = `${share(c.canaryYes, c.canaryUnits)} of canary vs ${share(c.stableYes, c.stableUnits)} of stable answers slower than ${formatMs(worst.threshold)} (${s.latencyRatio}× stable's p${Math.round(worst.level * 100)}, +${formatMs(s.latencyMinIncreaseMs)} at least)`;
      detail = fail
        ? `${p99s}; ${slow}: more than ${formatPoints(c.margin)} more often by an always-valid randomization test (e-value ${formatE(logE)} ≥ ${formatE(Math.log(1 / alpha))}, alpha ${+alpha.toPrecision(2)})`
        : pass
          ? `${p99s}: shown no slower than the margins in this step`
          : `${p99s}; ${slow}`;
    }
    const bounds = active.map((l) => l.comparison.upperBound(s.passAlpha) ?? 1);
    return {
      metric: 'latency',
      outcome: fail ? 'fail' : pass ? 'pass' : 'inconclusive',
      canary: canaryP99,
      stable: stableP99,
      margin: 0.01,
      evidence: Math.exp(logE),
      bound: worst && active.length === latencyLevels.length ? Math.max(...bounds) : null,
      alpha,
      detail,
    };
  }

  #ceilingVerdict(c: CeilingTest, alpha: number): MetricVerdict {
    const logE = c.test.logFailEvidence();
    const fail = logE >= Math.log(1 / alpha);
    const what = c.latencyMs === undefined ? `errors ${formatRate(c.test.share)}` : `${formatRate(c.test.share)} of answers slower than ${formatMs(c.latencyMs)}`;
    return {
      metric: c.metric,
      outcome: fail ? 'fail' : 'pass',
      canary: c.test.share ?? null,
      stable: null,
      margin: c.test.ceiling,
      evidence: Math.exp(logE),
      bound: null,
      alpha,
      detail: `canary ${what} (${c.test.yes + c.test.no} clients): ${fail ? `shown above ${c.label}` : `not shown above ${c.label}`}`,
    };
  }

  #heavyHitter(): string | undefined {
    for (const side of ['canary', 'stable'] as const) {
      const top = this.#hitters[side].top();
      if (top) return `${Math.round(top.share * 100)}% of the ${side}'s errors (${top.errors} of ${this.#hitters[side].total}) came from one client (bucket ${top.bucket}); a client counts once`;
    }
    return undefined;
  }

  /** What the data rule out so far: a canary worse than this would have been caught ("can detect +8 points of errors"). */
  #detectable(comparisons: MetricVerdict[]): string {
    const [errors, ...others] = comparisons;
    const size = (m: MetricVerdict): string => (m.bound === null ? 'not yet' : `+${formatPoints(m.bound)}`);
    const lead = errors!.bound === null ? 'cannot detect a change in errors yet' : `can detect ${size(errors!)} of errors so far`;
    const name = (m: MetricVerdict): string => (m.metric === 'client-errors' ? '4xx' : m.metric === 'redirects' ? '3xx' : 'slow answers');
    return `${lead} (${others.map((m) => `${name(m)}: ${size(m)}`).join(', ')})`;
  }

  #reason(outcome: Outcome, metrics: MetricVerdict[], units: { canary: number; stable: number }, enough: boolean, detectable: string, heavy: string | undefined): string {
    const note = heavy ? `; ${heavy}` : '';
    if (outcome === 'fail') return `${metrics.filter((m) => m.outcome === 'fail').map((m) => m.detail).join('; and ')}${note}`;
    const errors = metrics[0]!;
    if (outcome === 'pass') {
      return `no regression detected: ${errors.detail}; ${metrics.find((m) => m.metric === 'latency')!.detail} (non-inferiority at ${this.settings.passAlpha}; margins: errors +${formatPoints(this.settings.maxErrorRateIncrease)}, 4xx +${formatPoints(this.settings.maxClientErrorIncrease)}, 3xx +${formatPoints(this.settings.maxRedirectIncrease)})${note}`;
    }
    if (this.canary.requests === 0) return 'no canary requests yet';
    const floor = enough ? '' : `${units.canary} canary and ${units.stable} stable clients in this step of the ${this.settings.minRequests} needed on each; `;
    return `not enough evidence to pass yet: ${floor}${errors.detail}; ${detectable}${note}`;
  }
}

function formatE(logE: number): string {
  if (logE === Infinity) return '∞';
  const e = Math.exp(logE);
  return e >= 1e4 ? e.toExponential(1) : String(Math.round(e));
}
