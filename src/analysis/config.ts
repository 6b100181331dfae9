// Settings for canary analysis. Defaults are explained in docs/analysis.md.

export interface AnalysisSettings {
  /** Total probability of rolling back a canary that is not worse, over the whole rollout and all metrics. */
  alpha: number;
  /** Probability of promoting a step whose canary is worse than a margin (each metric must show it is not). */
  passAlpha: number;
  /** Tolerated canary-minus-stable share of 5xx and connection errors (0.01 = 1 percentage point). */
  maxErrorRateIncrease: number;
  /** Tolerated canary-minus-stable share of 4xx answers. */
  maxClientErrorIncrease: number;
  /** Tolerated canary-minus-stable share of 3xx answers. */
  maxRedirectIncrease: number;
  /** A canary answer is slow at level L when above this × stable's L-quantile … */
  latencyRatio: number;
  /** … and at least this many ms above it. */
  latencyMinIncreaseMs: number;
  /** Optional absolute ceiling for the canary error rate (fraction). */
  maxErrorRate?: number;
  /** Optional absolute ceiling for the canary p99 latency (ms). */
  maxP99Ms?: number;
  /** Units needed on each side in a step before it may pass (a floor; the evidence decides). */
  minRequests: number;
  /** Ceilings from the releases before (their best error rate and p99), against a slow drift. */
  guardRails: boolean;
}

export const defaultAnalysisSettings: AnalysisSettings = Object.freeze({
  alpha: 0.01,
  passAlpha: 0.05,
  // 1 point: already an SLO breach for any service promising ≥ 99% success. Validity (alpha) does not
  // depend on the margins; they say what "worse" means.
  maxErrorRateIncrease: 0.01,
  maxClientErrorIncrease: 0.05,
  maxRedirectIncrease: 0.05,
  latencyRatio: 2,
  latencyMinIncreaseMs: 20,
  minRequests: 100,
  guardRails: true,
});

/** Merges user settings over the defaults and rejects values that would make the tests meaningless. */
export function resolveSettings(overrides: Partial<AnalysisSettings> = {}): AnalysisSettings {
  const s: AnalysisSettings = { ...defaultAnalysisSettings };
  for (const [key, value] of Object.entries(overrides)) {
    // An explicit `undefined` means "use the default" (or "no ceiling" for the optional ones).
    if (value !== undefined) (s as unknown as Record<string, unknown>)[key] = value;
  }
  check(s.alpha > 0 && s.alpha < 1, 'alpha must be in (0, 1)', s.alpha);
  check(s.passAlpha > 0 && s.passAlpha < 1, 'passAlpha must be in (0, 1)', s.passAlpha);
  for (const k of ['maxErrorRateIncrease', 'maxClientErrorIncrease', 'maxRedirectIncrease'] as const) check(s[k] >= 0 && s[k] < 1, `${k} must be in [0, 1)`, s[k]);
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
