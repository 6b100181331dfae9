// Error-rate metrics: canary vs stable (with a tolerated margin) and canary vs
// an optional absolute ceiling. Both are always-valid, so they may be
// evaluated as often as wanted.

import { compareRate } from './beta-mixture.ts';
import type { AnalysisSettings } from './config.ts';
import { formatAlpha, formatPoints, formatRate } from './format.ts';
import { ERROR_PRIOR } from './priors.ts';
import { logEvidence } from './rate-difference.ts';
import type { Stratum } from './stratum.ts';
import type { MetricVerdict } from './verdict.ts';
import type { ReleaseSample } from './window.ts';

function counts(sample: ReleaseSample): string {
  return `n=${sample.requests}`;
}

function needMore(sample: ReleaseSample, settings: AnalysisSettings): boolean {
  return sample.requests < settings.minRequests;
}

/** Canary vs stable + margin, over the whole window, with the null required within each weight step. */
export function errorRateVerdict(
  canary: ReleaseSample,
  stable: ReleaseSample,
  strata: readonly Stratum[],
  settings: AnalysisSettings,
  alpha: number,
): MetricVerdict {
  const pc = canary.errorRate() ?? null;
  const ps = stable.errorRate() ?? null;
  const margin = settings.maxErrorRateIncrease;
  const evidence = logEvidence(canary, stable, strata.map((s) => s.errorTerms(margin)), ERROR_PRIOR);
  const values = `error rate ${formatRate(pc)} on canary vs ${formatRate(ps)} on stable (n=${canary.requests} vs ${stable.requests}`;
  const base = { metric: 'error-rate' as const, stable: ps, canary: pc, limit: ps === null ? null : ps + margin, alpha };
  if (evidence >= -Math.log(alpha)) {
    return {
      ...base,
      outcome: 'fail',
      detail: `${values}; more than ${formatPoints(margin)} worse by an always-valid test, alpha ${formatAlpha(alpha)})`,
    };
  }
  if (needMore(canary, settings) || needMore(stable, settings)) {
    return { ...base, outcome: 'inconclusive', detail: `${values}; need ${settings.minRequests} requests on each to pass)` };
  }
  return { ...base, outcome: 'pass', detail: `${values}; not shown to be more than ${formatPoints(margin)} worse)` };
}

export function maxErrorRateVerdict(canary: ReleaseSample, ceiling: number, settings: AnalysisSettings, alpha: number): MetricVerdict {
  const pc = canary.errorRate() ?? null;
  const base = { metric: 'max-error-rate' as const, stable: null, canary: pc, limit: ceiling, alpha };
  const values = `error rate ${formatRate(pc)} on canary (${counts(canary)}`;
  if (compareRate(canary.errors, canary.requests, ceiling, alpha, ERROR_PRIOR) === 1) {
    return { ...base, outcome: 'fail', detail: `${values}) is above the ${formatRate(ceiling)} ceiling by an always-valid test, alpha ${formatAlpha(alpha)}` };
  }
  if (needMore(canary, settings)) {
    return { ...base, outcome: 'inconclusive', detail: `${values}; need ${settings.minRequests} to pass the ${formatRate(ceiling)} ceiling)` };
  }
  return { ...base, outcome: 'pass', detail: `${values}) not shown to be above the ${formatRate(ceiling)} ceiling` };
}
