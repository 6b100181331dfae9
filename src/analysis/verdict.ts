// Result types of the canary analysis.

export type Outcome = 'pass' | 'fail' | 'inconclusive';

export type MetricName = 'errors' | 'client-errors' | 'redirects' | 'latency' | 'max-error-rate' | 'max-p99' | 'guard-error-rate' | 'guard-p99';

export interface MetricVerdict {
  metric: MetricName;
  outcome: Outcome;
  /** Canary's and stable's observed share of the outcome (units), or p99 in ms for latency; null without data. */
  canary: number | null;
  stable: number | null;
  /** How much worse the canary may be (a share), or the ceiling it must stay under. */
  margin: number;
  /** The evidence that it is worse (an e-value: fail at ≥ 1 / alpha). */
  evidence: number;
  /** In the current step: the smallest margin the data show the canary stays within, if any. */
  bound: number | null;
  /** Part of the false-rollback budget spent on this test. */
  alpha: number;
  /** Human sentence with the values, the margin and the test. */
  detail: string;
}

export interface Verdict {
  outcome: Outcome;
  reason: string;
  metrics: MetricVerdict[];
  canaryRequests: number;
  stableRequests: number;
  /** Units (clients, or requests routed on a fresh draw) of the current step, per side. */
  canaryUnits: number;
  stableUnits: number;
  /** What the current step's data can tell apart so far, in words ("errors within +8 points"). */
  detectable: string;
  /** A client that makes up a large share of a release's errors, in words. */
  heavyHitter: string | undefined;
}
