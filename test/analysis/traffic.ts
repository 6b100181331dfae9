// Simulated proxy traffic for analyzer tests and bench/analysis-sim.ts (not a test file): simulated time
// only, evaluate() every 250 ms like the deploy loop would. Routing is zdd's: buckets 0..9999, the canary
// owns the lowest `weight` share; ordinary requests come without a cookie (a fresh bucket each), sticky
// clients keep theirs.

import type { CanaryAnalyzer, Verdict } from '../../src/analysis/analyzer.ts';
import { bucketCount, canaryShare } from '../../src/analysis/units.ts';
import { logNormal, mulberry32 } from './prng.ts';

type Over<T> = T | ((t: number) => T);

export interface StickyClient {
  /** Share of all requests this client sends. */
  share: number;
  /** Its own error rate, on either release. */
  errorRate: number;
  /** Extra latency of its requests, on either release. */
  extraMs?: number;
}

export interface Traffic {
  seed: number;
  seconds: number;
  reqPerSecond?: number; // default 1000
  weight?: Over<number>; // canary share; t in seconds
  canaryErr?: Over<number>;
  stableErr?: Over<number>;
  /** The canary's status for an ordinary request that did not fail (e.g. 404 for every route). */
  canaryStatus?: number;
  /** Extra latency for a request, given the rand source (default none). */
  canaryExtraMs?: (rand: () => number, t: number) => number;
  stableExtraMs?: (rand: () => number, t: number) => number;
  sticky?: readonly StickyClient[];
  /** Errors in bursts: each second, with this probability, the next `size` requests fail, whichever release serves them. */
  bursts?: { size: number; perSecond: number };
  /** Share of ordinary requests answered 404 by either release (a stable 4xx rate). */
  notFound?: number;
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

const at = <T>(v: Over<T> | undefined, t: number, fallback: T): T => (v === undefined ? fallback : typeof v === 'function' ? (v as (t: number) => T)(t) : v);

export function drive(analyzer: CanaryAnalyzer, traffic: Traffic): TrafficResult {
  const rand = mulberry32(traffic.seed);
  const latency = logNormal(rand, 12, 0.22); // median 12 ms, p99 ≈ 20 ms
  const rate = traffic.reqPerSecond ?? 1000;
  const sticky = (traffic.sticky ?? []).map((c) => ({ ...c, bucket: Math.floor(rand() * bucketCount), seen: false }));
  let failedAt: number | undefined;
  let firstPassAt: number | undefined;
  let last: Verdict | undefined;
  let burstLeft = 0;
  let weight = -1;
  let carry = 0;
  const outcomes = new Set<string>();
  for (let tick = 1; tick <= traffic.seconds * 4; tick++) {
    const t = tick / 4;
    const w = at(traffic.weight, t, 0.2);
    if (w !== weight && (traffic.tellWeight ?? true)) analyzer.setWeight(w);
    weight = w;
    const edge = canaryShare(w) * bucketCount;
    const pc = at(traffic.canaryErr, t, 0.005);
    const ps = at(traffic.stableErr, t, 0.005);
    if (traffic.bursts && rand() < traffic.bursts.perSecond / 4) burstLeft = traffic.bursts.size;
    // Low rates: carry fractions of a request from tick to tick.
    carry += rate / 4;
    const n = Math.floor(carry);
    carry -= n;
    for (let i = 0; i < n; i++) {
      const client = sticky.find((c) => rand() < c.share);
      let bucket: number;
      let fresh = true;
      let status: number;
      let extra = 0;
      if (client) {
        bucket = client.bucket;
        fresh = !client.seen;
        client.seen = true;
        status = rand() < client.errorRate ? 500 : 200;
        extra = client.extraMs ?? 0;
      } else {
        bucket = Math.floor(rand() * bucketCount);
        const canary = bucket < edge;
        const failed = rand() < (canary ? pc : ps);
        status = failed ? 500 : rand() < (traffic.notFound ?? 0) ? 404 : canary && traffic.canaryStatus !== undefined ? traffic.canaryStatus : 200;
      }
      const canary = bucket < edge;
      if (burstLeft > 0) {
        burstLeft--;
        status = 503;
      }
      const extraMs = canary ? (traffic.canaryExtraMs?.(rand, t) ?? 0) : (traffic.stableExtraMs?.(rand, t) ?? 0);
      analyzer.record({ release: canary ? 'canary' : 'stable', status, latencyMs: latency() + extra + extraMs, routing: { bucket, fresh } });
    }
    last = analyzer.evaluate();
    outcomes.add(last.outcome);
    if (last.outcome === 'fail' && failedAt === undefined) failedAt = t;
    if (last.outcome === 'pass' && firstPassAt === undefined) firstPassAt = t;
  }
  return { failedAt, firstPassAt, last: last!, outcomes };
}
