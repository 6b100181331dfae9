// Statistics for bench/analysis-sim.ts: exact binomial intervals for simulated rates, and quantiles of
// times that may be "never" (a run that did not fail within its window).

/**
 * Two-sided Clopper–Pearson (exact) interval for a rate seen k times in n runs, at `level`. Conservative:
 * it covers the true rate at least `level` of the time, whatever the rate. With k = 0 the upper end is
 * 1 − ((1 − level) / 2)^(1/n): 1.22% for n = 300, 0.92% for n = 400.
 */
export function clopperPearson(k: number, n: number, level = 0.95): [lower: number, upper: number] {
  if (!(Number.isInteger(n) && n > 0 && Number.isInteger(k) && k >= 0 && k <= n)) throw new RangeError(`need integers 0 ≤ k ≤ n, n > 0 (got ${k} of ${n})`);
  if (!(level > 0 && level < 1)) throw new RangeError(`level must be in (0, 1) (got ${level})`);
  const tail = (1 - level) / 2;
  // Lower: the rate at which seeing k or more is just `tail` likely; upper: k or fewer just `tail` likely.
  const lower = k === 0 ? 0 : k === n ? Math.pow(tail, 1 / n) : increasingRoot((p) => 1 - binomialCdf(k - 1, n, p) - tail);
  const upper = k === n ? 1 : k === 0 ? 1 - Math.pow(tail, 1 / n) : increasingRoot((p) => tail - binomialCdf(k, n, p));
  return [lower, upper];
}

/** P(X ≤ k) for X ~ Binomial(n, p), summed term by term in log space (no underflow for n in the millions). */
export function binomialCdf(k: number, n: number, p: number): number {
  if (k < 0) return 0;
  if (k >= n || p <= 0) return 1;
  if (p >= 1) return 0;
  const logOdds = Math.log(p) - Math.log1p(-p);
  let logTerm = n * Math.log1p(-p); // P(X = 0)
  let sum = Math.exp(logTerm);
  for (let i = 0; i < k; i++) {
    logTerm += Math.log((n - i) / (i + 1)) + logOdds; // P(X = i + 1) from P(X = i)
    sum += Math.exp(logTerm);
  }
  return Math.min(1, sum);
}

/** The root in (0, 1) of a function increasing in p, by bisection to 1e-12. */
function increasingRoot(f: (p: number) => number): number {
  let lo = 0;
  let hi = 1;
  while (hi - lo > 1e-12) {
    const mid = (lo + hi) / 2;
    if (f(mid) < 0) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The q-quantile (0..1, nearest rank) of times where undefined means "never" (counted as later than any
 * time); Infinity when the quantile falls among the nevers, NaN without values.
 */
export function timeQuantile(times: readonly (number | undefined)[], q: number): number {
  if (times.length === 0) return Number.NaN;
  const sorted = times.map((t) => t ?? Infinity).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(sorted.length, rank) - 1]!;
}

/** Share of values that are defined and at most `limit`. */
export function shareWithin(times: readonly (number | undefined)[], limit = Infinity): number {
  return times.length === 0 ? Number.NaN : times.filter((t) => t !== undefined && t <= limit).length / times.length;
}
