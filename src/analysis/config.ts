// Settings for canary analysis. Defaults are explained in docs/analysis.md.

export interface AnalysisSettings {
  /** Total probability of rolling back a canary that is not worse, over the whole window and all metrics. */
  alpha: number;
  /** Tolerated canary-minus-stable error-rate difference, as a fraction (0.01 = 1 percentage point). */
  maxErrorRateIncrease: number;
  /** Canary p99 may be at most this × stable p99 ... */
  latencyRatio: number;
  /** ... and must also be at least this many ms worse than stable p99 to fail. */
  latencyMinIncreaseMs: number;
  /** Optional absolute ceiling for the canary error rate (fraction). */
  maxErrorRate?: number;
  /** Optional absolute ceiling for the canary p99 latency (ms). */
  maxP99Ms?: number;
  /** Canary (and stable) requests needed before `pass` is possible. */
  minRequests: number;
}

export const defaultAnalysisSettings: AnalysisSettings = Object.freeze({
  alpha: 0.01,
  // 1 point: already an SLO breach for any service promising ≥ 99% success, yet
  // wide enough to absorb small non-stationarities (see docs). Validity (alpha)
  // does not depend on it — any value ≥ 0 keeps false rollbacks ≤ alpha.
  maxErrorRateIncrease: 0.01,
  latencyRatio: 2,
  latencyMinIncreaseMs: 100,
  // With 500, a canary failing ≥ 10% of requests or with 5% of requests
  // 300 ms slower is failed before it can ever pass in ≥ 95% of simulated runs
  // (with 200: as low as ~60%); a healthy canary at 20% of 1000 req/s first
  // passes after ~2.5 s. See docs/analysis.md.
  minRequests: 500,
});

/** Merges user settings over the defaults and rejects values that would make the tests meaningless. */
export function resolveSettings(overrides: Partial<AnalysisSettings> = {}): AnalysisSettings {
  const s: AnalysisSettings = { ...defaultAnalysisSettings };
  for (const [key, value] of Object.entries(overrides)) {
    // An explicit `undefined` means "use the default" (or "no ceiling" for the optional ones).
    if (value !== undefined) (s as unknown as Record<string, unknown>)[key] = value;
  }
  check(s.alpha > 0 && s.alpha < 1, 'alpha must be in (0, 1)', s.alpha);
  check(s.maxErrorRateIncrease >= 0 && s.maxErrorRateIncrease < 1, 'maxErrorRateIncrease must be in [0, 1)', s.maxErrorRateIncrease);
  check(s.latencyRatio >= 1, 'latencyRatio must be ≥ 1', s.latencyRatio);
  check(s.latencyMinIncreaseMs >= 0, 'latencyMinIncreaseMs must be ≥ 0', s.latencyMinIncreaseMs);
  check(Number.isInteger(s.minRequests) && s.minRequests >= 1, 'minRequests must be an integer ≥ 1', s.minRequests);
  if (s.maxErrorRate !== undefined) check(s.maxErrorRate >= 0 && s.maxErrorRate < 1, 'maxErrorRate must be in [0, 1)', s.maxErrorRate);
  if (s.maxP99Ms !== undefined) check(s.maxP99Ms > 0, 'maxP99Ms must be > 0', s.maxP99Ms);
  return s;
}

function check(ok: boolean, message: string, value: unknown): void {
  // `!ok` also catches NaN, which fails every comparison above.
  if (!ok) throw new RangeError(`${message} (got ${String(value)})`);
}
