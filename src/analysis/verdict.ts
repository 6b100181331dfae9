// Result types shared by the metric tests and the analyzer.

export type Outcome = 'pass' | 'fail' | 'inconclusive';

export type MetricName = 'error-rate' | 'latency-p99' | 'max-error-rate' | 'max-p99';

export interface MetricVerdict {
  metric: MetricName;
  outcome: Outcome;
  /** Stable's observed value (error share, or p99 in ms); null when not applicable or no data. */
  stable: number | null;
  /** Canary's observed value; null without data. */
  canary: number | null;
  /** What the canary must provably exceed to fail (stable + margin, latency threshold, or ceiling); null if not yet known. */
  limit: number | null;
  /** Part of the total false-rollback budget spent on this test. */
  alpha: number;
  /** Human sentence with the values and the test used. */
  detail: string;
}

export interface Verdict {
  outcome: Outcome;
  reason: string;
  metrics: MetricVerdict[];
  canaryRequests: number;
  stableRequests: number;
}

/** Overall outcome: any fail fails; pass needs every metric to pass. */
export function combineOutcomes(metrics: readonly MetricVerdict[]): Outcome {
  if (metrics.some((m) => m.outcome === 'fail')) return 'fail';
  return metrics.length > 0 && metrics.every((m) => m.outcome === 'pass') ? 'pass' : 'inconclusive';
}
