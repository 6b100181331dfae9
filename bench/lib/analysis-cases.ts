// What bench/analysis-sim.ts simulates: the rows of its tables as traffic for test/analysis/traffic.ts.
// Built from the options alike in the main thread and in each worker, so jobs name a case by its index.

import type { AnalysisSettings } from '../../src/analysis/index.ts';
import type { Traffic } from '../../test/analysis/traffic.ts';
import type { SimCase } from './analysis-runs.ts';

export interface SimOptions {
  runsAa: number;
  runsBoundary: number;
  runsPower: number;
  runsLow: number;
  seconds: number;
  lowSeconds: number;
  workers: number;
}

/** traffic.ts's error rate for both releases unless told otherwise. */
export const stableErrors = 0.005;

export interface AaScenario {
  key: string;
  label: string;
  traffic: Omit<Traffic, 'seed' | 'seconds'>;
}

export const aaScenarios: AaScenario[] = [
  { key: 'a', label: '(a) independent requests', traffic: {} },
  { key: 'b', label: '(b) a sticky client: 1% of traffic, 50% errors on both', traffic: { sticky: [{ share: 0.01, errorRate: 0.5 }] } },
  { key: 'c', label: '(c) a sticky client: 0.5% of traffic, +400 ms on both', traffic: { sticky: [{ share: 0.005, errorRate: stableErrors, extraMs: 400 }] } },
  { key: 'd', label: '(d) errors in bursts of 50 (0.5 bursts/s) on both', traffic: { bursts: { size: 50, perSecond: 0.5 } } },
  { key: 'e', label: '(e) a steady 5% of 404s on both', traffic: { notFound: 0.05 } },
];

export const aaWeights = [0.05, 0.2, 0.5];
/** A weight that steps 5% → 20% → 50% at a third and two thirds of the window. */
export const stepped = 'steps';
/** Scenarios also run with the stepped weight. */
export const steppedKeys = ['a', 'b'];

/** Every comparison margin at 0: an identical canary sits exactly on the error, 4xx and 3xx tests' null. */
export const boundarySettings: Partial<AnalysisSettings> = { maxErrorRateIncrease: 0, maxClientErrorIncrease: 0, maxRedirectIncrease: 0 };
export const boundaryRows: { key: string; weight: number | typeof stepped }[] = [
  { key: 'a', weight: 0.2 },
  { key: 'b', weight: 0.5 },
  { key: 'b', weight: stepped },
  { key: 'd', weight: 0.2 },
  { key: 'e', weight: 0.2 },
];

export interface PowerRow {
  key: string;
  label: string;
  weight: number;
  traffic: Omit<Traffic, 'seed' | 'seconds' | 'weight'>;
}

export const powerRows: PowerRow[] = [
  { key: 'err30', label: '+30 points of errors (30.5%)', weight: 0.2, traffic: { canaryErr: 0.305 } },
  { key: 'err10', label: '+10 points of errors (10.5%)', weight: 0.2, traffic: { canaryErr: 0.105 } },
  { key: 'err2', label: '+2 points of errors (2.5%)', weight: 0.2, traffic: { canaryErr: 0.025 } },
  { key: 'err10-w5', label: '+10 points of errors (10.5%)', weight: 0.05, traffic: { canaryErr: 0.105 } },
  { key: 'err2-w5', label: '+2 points of errors (2.5%)', weight: 0.05, traffic: { canaryErr: 0.025 } },
  { key: '404', label: 'a 404 for every route', weight: 0.2, traffic: { canaryStatus: 404 } },
  { key: 'slow50', label: '+50 ms on every request', weight: 0.2, traffic: { canaryExtraMs: () => 50 } },
];

export const lowRate = 2;
export const lowWeight = 0.2;
export const lowBadErrors = 0.5;

export const aaId = (key: string, weight: number | string): string => `aa/${key}/${weight}`;
export const boundaryId = (key: string, weight: number | string): string => `boundary/${key}/${weight}`;

export function buildCases(o: SimOptions): SimCase[] {
  const cases: SimCase[] = [];
  const third = o.seconds / 3;
  const weightOf = (w: number | string): Traffic['weight'] => (typeof w === 'number' ? w : (t: number) => (t <= third ? 0.05 : t <= 2 * third ? 0.2 : 0.5));
  const scenario = (key: string) => aaScenarios.find((s) => s.key === key)!;
  for (const s of aaScenarios) {
    for (const w of [...aaWeights, ...(steppedKeys.includes(s.key) ? [stepped] : [])]) {
      cases.push({ id: aaId(s.key, w), runs: o.runsAa, traffic: { ...s.traffic, seconds: o.seconds, weight: weightOf(w) } });
    }
  }
  for (const b of boundaryRows) {
    cases.push({ id: boundaryId(b.key, b.weight), runs: o.runsBoundary, settings: boundarySettings, traffic: { ...scenario(b.key).traffic, seconds: o.seconds, weight: weightOf(b.weight) } });
  }
  for (const p of powerRows) cases.push({ id: `power/${p.key}`, runs: o.runsPower, traffic: { ...p.traffic, seconds: o.seconds, weight: p.weight } });
  const low = { reqPerSecond: lowRate, weight: lowWeight, seconds: o.lowSeconds };
  cases.push({ id: 'low/good', runs: o.runsLow, traffic: low });
  cases.push({ id: 'low/bad', runs: o.runsLow, traffic: { ...low, canaryErr: lowBadErrors } });
  return cases;
}
