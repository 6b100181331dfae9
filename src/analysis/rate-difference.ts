// Always-valid test of "canary error rate ≤ stable error rate + δ", optionally
// stratified by traffic-weight step k.
//
//            N_n                                  N_n = a mixture of the two
//   E_n = ──────────────────────────────────     releases' beta-binomial
//          Π_k  sup_{p_c ≤ p_s + δ} L_k(p_c, p_s)  marginal likelihoods
//
// The numerator is a product of predictive probabilities of each new outcome
// (a valid "bet"); the denominator maximises the likelihood over the null,
// separately in each step. For whatever true rates satisfy the null in each
// step, E_n ≤ N_n / Π_k L_k(true), a test martingale in the merged request
// order whatever the routing weights were (routing must not look at a
// request's outcome). By Ville's inequality P(∃n: E_n ≥ 1/α) ≤ α. This is the
// "universal inference" e-process (Wasserman, Ramdas & Balakrishnan 2020);
// with one step and a point null it is the mSPRT of Johari et al. (2022).
//
// Why steps: the null is required within each step, so rates may differ
// between steps. Otherwise a shared incident during an 80% step puts more of
// the canary's window inside the incident than stable's and looks like a
// regression. Within a step the canary is a uniform random share of the
// traffic, so shared variation hits both releases alike.
//
// The numerator averages two bets: one rate per release across the whole
// window (pools a steady regression's evidence over steps) and a fresh rate
// per step (adapts at once to a regression that starts with a step). The
// average of two test martingales is one; it costs at most ln 2 of evidence,
// and nothing with a single step.
//
// Cost: O(1) per step — log-gammas and a 1-D convex minimisation.

import type { BetaPrior } from './beta-mixture.ts';
import { lnBeta } from './special.ts';

export interface Counts {
  readonly errors: number;
  readonly requests: number;
}

function logLik(errors: number, requests: number, p: number): number {
  const ok = requests - errors;
  return (errors > 0 ? errors * Math.log(p) : 0) + (ok > 0 ? ok * Math.log1p(-p) : 0);
}

/** ln of the beta-binomial marginal likelihood (the mixture over the unknown rate). */
export function logMarginal(c: Counts, prior: BetaPrior): number {
  return lnBeta(prior.a + c.errors, prior.b + c.requests - c.errors) - lnBeta(prior.a, prior.b);
}

/** ln sup over {p_c ≤ p_s + margin} of the two releases' likelihood for one stratum. */
export function restrictedLogLik(canary: Counts, stable: Counts, margin: number): number {
  const pc = canary.requests > 0 ? canary.errors / canary.requests : 0;
  const ps = stable.requests > 0 ? stable.errors / stable.requests : 0;
  if (pc <= ps + margin) return logLik(canary.errors, canary.requests, pc) + logLik(stable.errors, stable.requests, ps);

  // The null is convex and the MLE lies outside it, so the restricted maximum
  // is on the line p_c = p_s + margin. With x = p_s the negative
  // log-likelihood is convex in x ∈ (0, 1 − margin); find where its slope is 0.
  const ec = canary.errors, oc = canary.requests - canary.errors;
  const es = stable.errors, os = stable.requests - stable.errors;
  const slope = (x: number): number => {
    const y = x + margin;
    return -ec / y + oc / (1 - y) - es / x + os / (1 - x);
  };
  let lo = 0;
  let hi = 1 - margin;
  for (let i = 0; i < 64; i++) {
    const mid = 0.5 * (lo + hi);
    if (slope(mid) > 0) hi = mid;
    else lo = mid;
  }
  const x = 0.5 * (lo + hi); // strictly inside (0, 1 − margin): no log(0) against a nonzero count
  return logLik(ec, canary.requests, x + margin) + logLik(es, stable.requests, x);
}

/** One step's contribution: its own marginal likelihood and its restricted maximum (both ln). */
export interface StepTerms {
  readonly marginal: number;
  readonly restricted: number;
}

export function stepTerms(canary: Counts, stable: Counts, margin: number, prior: BetaPrior): StepTerms {
  return { marginal: logMarginal(canary, prior) + logMarginal(stable, prior), restricted: restrictedLogLik(canary, stable, margin) };
}

/** ln E_n from the window totals and each step's terms. ≥ ln(1/α) means: fail. */
export function logEvidence(canaryTotal: Counts, stableTotal: Counts, steps: readonly StepTerms[], prior: BetaPrior): number {
  const pooled = logMarginal(canaryTotal, prior) + logMarginal(stableTotal, prior);
  let perStep = 0;
  let restricted = 0;
  for (const step of steps) {
    perStep += step.marginal;
    restricted += step.restricted;
  }
  if (steps.length <= 1) return pooled - restricted;
  const top = Math.max(pooled, perStep); // ln((e^a + e^b) / 2) without overflow
  return top + Math.log((Math.exp(pooled - top) + Math.exp(perStep - top)) / 2) - restricted;
}

/** Single-step convenience: ln E_n for one constant-weight window. */
export function logEvidenceRateIncrease(canary: Counts, stable: Counts, margin: number, prior: BetaPrior): number {
  return logEvidence(canary, stable, [stepTerms(canary, stable, margin, prior)], prior);
}
