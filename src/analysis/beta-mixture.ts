// Always-valid confidence sequence for a Bernoulli rate (beta-binomial mixture).
//
// For a Beta(a, b) prior, the mixture likelihood ratio against a fixed rate p
//   M_n(p) = [B(a + S, b + F) / B(a, b)] / [p^S (1 − p)^F]     (S successes, F failures)
// is a nonnegative martingale with M_0 = 1 when the observations are i.i.d.
// Bernoulli(p) (Robbins 1970). Ville's inequality gives
//   P(∃n: M_n(p) ≥ 1/α) ≤ α,
// so {p : M_n(p) < 1/α} covers the true rate at every n simultaneously with
// probability ≥ 1 − α: it may be evaluated after every request and acted on at
// any moment without inflating the error (Howard et al. 2021; Waudby-Smith &
// Ramdas 2020 call this the prior-posterior-ratio CS).
//
// ln M_n(p) is convex in p with its minimum (≤ 0) at the MLE S/n, so the set is
// an interval around S/n and each end can be found by bisection.

import { lnBeta } from './special.ts';

export interface BetaPrior {
  readonly a: number;
  readonly b: number;
}

/** ln M_n(p): the evidence (in nats) against "the rate is p". */
export function logMixtureRatio(successes: number, trials: number, p: number, prior: BetaPrior): number {
  const failures = trials - successes;
  // 0·ln 0 = 0: a rate of exactly 0 (or 1) is only contradicted by a success (failure).
  const logLik =
    (successes > 0 ? successes * Math.log(p) : 0) + (failures > 0 ? failures * Math.log1p(-p) : 0);
  return lnBeta(prior.a + successes, prior.b + failures) - lnBeta(prior.a, prior.b) - logLik;
}

const BISECT_STEPS = 60; // 2^-60 of the search interval: well below any reported precision

/** Lower end of the (1 − α) confidence sequence: the rate is > this at every n w.p. ≥ 1 − α. */
export function rateLowerBound(successes: number, trials: number, alpha: number, prior: BetaPrior): number {
  if (successes <= 0 || trials <= 0) return 0;
  const threshold = -Math.log(alpha);
  // With S ≥ 1, M_n(p) → ∞ as p → 0, so the bound is strictly positive.
  let rejected = 0; // p at or below `rejected` is outside the set
  let inside = successes / trials; // the MLE is always inside
  for (let i = 0; i < BISECT_STEPS; i++) {
    const mid = 0.5 * (rejected + inside);
    if (logMixtureRatio(successes, trials, mid, prior) >= threshold) rejected = mid;
    else inside = mid;
  }
  return rejected;
}

/** Upper end of the (1 − α) confidence sequence. */
export function rateUpperBound(successes: number, trials: number, alpha: number, prior: BetaPrior): number {
  if (trials <= 0 || successes >= trials) return 1;
  // Mirror image: failures of the complementary event, prior swapped.
  return 1 - rateLowerBound(trials - successes, trials, alpha, { a: prior.b, b: prior.a });
}

/**
 * Whether the sequence has excluded p0, and on which side: +1 if the rate is
 * shown to be above p0, −1 if below, 0 if p0 is still plausible. O(1): this is
 * what the quantile tests call once per histogram edge.
 */
export function compareRate(successes: number, trials: number, p0: number, alpha: number, prior: BetaPrior): -1 | 0 | 1 {
  if (trials <= 0) return 0;
  if (logMixtureRatio(successes, trials, p0, prior) < -Math.log(alpha)) return 0;
  return successes > p0 * trials ? 1 : -1;
}
