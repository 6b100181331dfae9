// Simulated proxy traffic for analyzer tests (not a test file): simulated
// time only, evaluate() every 250 ms like the deploy loop would.

import type { CanaryAnalyzer, Verdict } from '../../src/analysis/analyzer.ts';
import { logNormal, mulberry32 } from './prng.ts';

export interface Traffic {
  seed: number;
  seconds: number;
  reqPerSecond?: number; // default 1000
  weight?: number | ((t: number) => number); // canary share; t in seconds
  canaryErr?: number | ((t: number) => number);
  stableErr?: number | ((t: number) => number);
  /** Extra latency for a request, given the rand source (default none). */
  canaryExtraMs?: (rand: () => number, t: number) => number;
  stableExtraMs?: (rand: () => number, t: number) => number;
  /** Call setWeight() when the weight changes (default true). */
  tellWeight?: boolean;
}

export interface TrafficResult {
  /** Seconds of traffic when evaluate() first returned `fail`, or undefined. */
  failedAt: number | undefined;
  firstPassAt: number | undefined;
  last: Verdict;
  outcomes: Set<string>;
}

const at = (v: number | ((t: number) => number) | undefined, t: number, fallback: number): number =>
  v === undefined ? fallback : typeof v === 'number' ? v : v(t);

export function drive(analyzer: CanaryAnalyzer, traffic: Traffic): TrafficResult {
  const rand = mulberry32(traffic.seed);
  const latency = logNormal(rand, 12, 0.22); // median 12 ms, p99 ≈ 20 ms
  const perTick = Math.round((traffic.reqPerSecond ?? 1000) / 4);
  let failedAt: number | undefined;
  let firstPassAt: number | undefined;
  let last: Verdict | undefined;
  const outcomes = new Set<string>();
  for (let tick = 1; tick <= traffic.seconds * 4; tick++) {
    const t = tick / 4;
    const w = at(traffic.weight, t, 0.2);
    if (traffic.tellWeight ?? true) analyzer.setWeight(w);
    const pc = at(traffic.canaryErr, t, 0.005);
    const ps = at(traffic.stableErr, t, 0.005);
    for (let i = 0; i < perTick; i++) {
      if (rand() < w) analyzer.record('canary', rand() >= pc, latency() + (traffic.canaryExtraMs?.(rand, t) ?? 0));
      else analyzer.record('stable', rand() >= ps, latency() + (traffic.stableExtraMs?.(rand, t) ?? 0));
    }
    last = analyzer.evaluate();
    outcomes.add(last.outcome);
    if (last.outcome === 'fail' && failedAt === undefined) failedAt = t;
    if (last.outcome === 'pass' && firstPassAt === undefined) firstPassAt = t;
  }
  return { failedAt, firstPassAt, last: last!, outcomes };
}
