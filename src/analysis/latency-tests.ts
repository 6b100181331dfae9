// p99 latency metrics, compared within each traffic-weight step.
//
// Per step, each release gets one always-valid quantile bound (canary: lower,
// stable: upper). Step k spends alpha share 1/(k(k+1)) per side, and those
// shares sum to 1, so over the whole window the chance that any bound is ever
// wrong is ≤ the latency budget. The relative test and the ceiling both read
// the canary's lower bounds, so the ceiling costs no extra alpha.
//
// Relative rule: fail when canary p99 > max(ratio × stable p99, stable p99 + minIncrease).
// With L < canary p99 and U ≥ stable p99, L ≥ max(ratio·U, U + minIncrease)
// proves the rule is broken, because the threshold grows with stable p99.

import type { AnalysisSettings } from './config.ts';
import { formatAlpha, formatMs } from './format.ts';
import type { MetricVerdict } from './verdict.ts';
import type { ReleaseSample } from './window.ts';

export const P99 = 0.99;

/** Always-valid p99 bounds for one step. */
export interface P99Bounds {
  /** Canary p99 is above this (0 = nothing known yet). */
  canaryLower: number;
  /** Stable p99 is at most this (Infinity = nothing known yet). */
  stableUpper: number;
}

export interface StepBounds {
  readonly step: number;
  readonly p99: P99Bounds;
}

export function latencyThreshold(stableP99: number, settings: AnalysisSettings): number {
  return Math.max(settings.latencyRatio * stableP99, stableP99 + settings.latencyMinIncreaseMs);
}

function describe(canary: ReleaseSample, stable: ReleaseSample | null): { pc: number | null; ps: number | null; text: string } {
  const pc = canary.quantile(P99) ?? null;
  const ps = stable?.quantile(P99) ?? null;
  const text = stable
    ? `p99 latency ${formatMs(pc)} on canary vs ${formatMs(ps)} on stable (n=${canary.requests} vs ${stable.requests}`
    : `p99 latency ${formatMs(pc)} on canary (n=${canary.requests}`;
  return { pc, ps, text };
}

function inStep(step: StepBounds, steps: number): string {
  return steps > 1 ? ` in weight step ${step.step}` : '';
}

/** `canary`/`stable` are whole-window samples (for reporting and minRequests); `steps` carry the bounds. */
export function latencyVerdict(
  canary: ReleaseSample,
  stable: ReleaseSample,
  steps: readonly StepBounds[],
  settings: AnalysisSettings,
  alpha: number,
): MetricVerdict {
  const { pc, ps, text } = describe(canary, stable);
  const current = steps[steps.length - 1];
  const known = (s: StepBounds | undefined): boolean => s !== undefined && Number.isFinite(s.p99.stableUpper);
  const base = {
    metric: 'latency-p99' as const,
    stable: ps,
    canary: pc,
    limit: current && known(current) ? latencyThreshold(current.p99.stableUpper, settings) : null,
    alpha,
  };

  const failing = steps.find((s) => known(s) && s.p99.canaryLower >= latencyThreshold(s.p99.stableUpper, settings));
  if (failing) {
    const { canaryLower, stableUpper } = failing.p99;
    const limit = latencyThreshold(stableUpper, settings);
    const rule = `max(${settings.latencyRatio} × ${formatMs(stableUpper)}, ${formatMs(stableUpper)} + ${formatMs(settings.latencyMinIncreaseMs)})`;
    return {
      ...base,
      limit,
      outcome: 'fail',
      detail:
        `${text}; canary p99 is above ${formatMs(canaryLower)}${inStep(failing, steps.length)}, beyond ${rule} = ${formatMs(limit)} ` +
        `where stable p99 ≤ ${formatMs(stableUpper)}, by an always-valid test, alpha ${formatAlpha(alpha)})`,
    };
  }
  if (canary.requests < settings.minRequests || stable.requests < settings.minRequests) {
    return { ...base, outcome: 'inconclusive', detail: `${text}; need ${settings.minRequests} requests on each to pass)` };
  }
  // No data is never success: until stable's p99 has been pinned down, the
  // latency test could not have failed anything, so it cannot pass either.
  if (!steps.some(known)) {
    return { ...base, outcome: 'inconclusive', detail: `${text}; not enough stable requests yet to bound its p99)` };
  }
  return {
    ...base,
    outcome: 'pass',
    detail: `${text}; not shown to exceed ${settings.latencyRatio}× and +${formatMs(settings.latencyMinIncreaseMs)} of stable)`,
  };
}

export function maxP99Verdict(
  canary: ReleaseSample,
  steps: readonly StepBounds[],
  ceilingMs: number,
  settings: AnalysisSettings,
  alpha: number,
): MetricVerdict {
  const { pc, text } = describe(canary, null);
  const base = { metric: 'max-p99' as const, stable: null, canary: pc, limit: ceilingMs, alpha };
  const failing = steps.find((s) => s.p99.canaryLower >= ceilingMs);
  if (failing) {
    return {
      ...base,
      outcome: 'fail',
      detail:
        `${text}) is above ${formatMs(failing.p99.canaryLower)}${inStep(failing, steps.length)}, over the ` +
        `${formatMs(ceilingMs)} ceiling, by an always-valid test, alpha ${formatAlpha(alpha)}`,
    };
  }
  if (canary.requests < settings.minRequests) {
    return { ...base, outcome: 'inconclusive', detail: `${text}; need ${settings.minRequests} to pass the ${formatMs(ceilingMs)} ceiling)` };
  }
  return { ...base, outcome: 'pass', detail: `${text}) not shown to be over the ${formatMs(ceilingMs)} ceiling` };
}
