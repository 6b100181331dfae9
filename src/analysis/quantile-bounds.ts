// Always-valid bounds on a latency quantile, read off the histogram.
//
// Fix the tail share τ = 1 − q (0.01 for p99) and let Q be the true q-quantile.
// The indicators 1{latency > Q} are i.i.d. Bernoulli with mean ≤ τ, so by the
// beta-mixture confidence sequence (beta-mixture.ts), with probability ≥ 1 − α
// their running count never looks "significantly above τ". Counts of
// exceedances are monotone in the threshold, so at every moment, for every
// edge x at once: if the count above x is significantly above τ, then x < Q.
// Symmetrically, with 1{latency ≥ Q} (mean ≥ τ): a count above x significantly
// below τ means x ≥ Q. This is the fixed-quantile confidence sequence of
// Howard & Ramdas (2022), evaluated only at bucket edges — the buckets cost
// resolution, never validity, and scanning all edges is free because it is one
// event about one Bernoulli stream, not a test per edge.
//
// The decision "count S of n is significantly above (below) τ" is monotone in S
// (ln M_n is convex in S and ≤ 0 at S = τn), and S only shrinks as the edge
// rises, so each bound is a binary search: O(log buckets) tests after the
// O(buckets) suffix sum.

import { compareRate, type BetaPrior } from './beta-mixture.ts';
import type { ReleaseSample } from './window.ts';

/**
 * Largest bucket edge L with "quantile > L" established (0 when none):
 * P(∃ time: returned L ≥ true quantile) ≤ alpha.
 */
export function quantileLowerBound(sample: ReleaseSample, q: number, alpha: number, prior: BetaPrior, scratch?: Float64Array): number {
  const n = sample.requests;
  if (n === 0) return 0;
  const above = sample.countsAbove(scratch);
  const edges = sample.layout.edges;
  // Highest edge whose tail is provably heavier than 1 − q.
  const i = lastTrue(edges.length - 1, (j) => compareRate(above[j]!, n, 1 - q, alpha, prior) === 1);
  return i < 0 ? 0 : edges[i]!;
}

/**
 * Smallest bucket edge U with "quantile ≤ U" established (Infinity when none):
 * P(∃ time: returned U < true quantile) ≤ alpha.
 */
export function quantileUpperBound(sample: ReleaseSample, q: number, alpha: number, prior: BetaPrior, scratch?: Float64Array): number {
  const n = sample.requests;
  if (n === 0) return Infinity;
  const above = sample.countsAbove(scratch);
  const edges = sample.layout.edges;
  // Lowest edge whose tail is provably lighter than 1 − q.
  const i = lastTrue(edges.length - 1, (j) => compareRate(above[j]!, n, 1 - q, alpha, prior) !== -1) + 1;
  return i >= edges.length - 1 ? Infinity : edges[i]!;
}

/** Largest j in [0, count) with pred(j), for pred true on a prefix; −1 if none. */
function lastTrue(count: number, pred: (j: number) => boolean): number {
  let lo = -1; // pred known true at lo (virtually, at −1)
  let hi = count; // pred known false at hi (virtually, at count)
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    if (pred(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}
