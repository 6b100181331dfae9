// Mixing priors for the beta-binomial mixtures. Any prior fixed in advance
// keeps every test valid; the prior only decides which alternatives get
// detected fastest (the evidence pays ≈ −ln(prior density) at the truth).

import type { BetaPrior } from './beta-mixture.ts';

/**
 * Error rates: Beta(½, 5), Jeffreys-like near 0 where error rates live, mean
 * ≈ 9%. In simulation it detected 5–10% canary error rates ~10–20% sooner
 * than Beta(½, ½) or Beta(1, 1), and 30–100% just as fast.
 */
export const ERROR_PRIOR: BetaPrior = Object.freeze({ a: 0.5, b: 5 });

/**
 * Share of requests beyond a latency threshold. The shares that matter sit
 * between ~0.2% (stable's upper bound must show "< 1%") and ~10% (a regressed
 * canary tail), the same region as error rates.
 */
export const TAIL_PRIOR: BetaPrior = ERROR_PRIOR;
