// Canary analysis v2: the randomization test by betting, its units, and the analyzer on simulated
// traffic with zdd's bucket routing (test/analysis/traffic.ts). Statistical claims with their full run
// counts and intervals are in bench/analysis-sim.ts; these tests pin behaviour with fewer, seeded runs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CanaryAnalyzer } from '../../src/analysis/analyzer.ts';
import { betFractions, emptyCells, logWealth } from '../../src/analysis/betting.ts';
import { Comparison } from '../../src/analysis/comparison.ts';
import { canaryShare, UnitTracker } from '../../src/analysis/units.ts';
import { drive, type Traffic } from './traffic.ts';

const runs = (n: number, t: Omit<Traffic, 'seed'>, make = () => new CanaryAnalyzer()) => Array.from({ length: n }, (_, i) => drive(make(), { ...t, seed: 1_000 + i * 7_919 }));

describe('betting arithmetic', () => {
  it('never bets more than it can lose: every factor of every bet stays above 0', () => {
    for (const pi of [0.01, 0.05, 0.2, 0.5, 0.9]) {
      for (const delta of [0, 0.01, 0.05, 0.5]) {
        for (const f of betFractions) {
          for (const direction of ['worse', 'not-worse'] as const) {
            for (const cell of ['canaryYes', 'canaryNo', 'stableYes', 'stableNo'] as const) {
              const cells = { ...emptyCells(pi), [cell]: 1 };
              assert.ok(Number.isFinite(logWealth(cells, delta, f, direction)), `${direction} π=${pi} δ=${delta} f=${f} ${cell}`);
            }
          }
        }
      }
    }
  });

  it('is fair under the null: with θ = δ exactly, the expected factor of each bet is 1', () => {
    // Canary errs 3%, stable 1%, margin 2 points: E[1 + λX] = 1 for every bet, both directions.
    const pi = 0.2;
    const pc = 0.03;
    const ps = 0.01;
    for (const f of betFractions) {
      for (const direction of ['worse', 'not-worse'] as const) {
        const factor = (cell: 'canaryYes' | 'canaryNo' | 'stableYes' | 'stableNo') => Math.exp(logWealth({ ...emptyCells(pi), [cell]: 1 }, 0.02, f, direction));
        const expected = pi * (pc * factor('canaryYes') + (1 - pc) * factor('canaryNo')) + (1 - pi) * (ps * factor('stableYes') + (1 - ps) * factor('stableNo'));
        assert.ok(Math.abs(expected - 1) < 1e-12, `${direction} f=${f}: ${expected}`);
      }
    }
  });
});

describe('units', () => {
  it('counts a sticky client once per step, a request on a fresh draw always, with the chance its side had', () => {
    const u = new UnitTracker();
    u.startStep(0.2);
    assert.equal(u.propensity({ bucket: 42, fresh: true }, true), 0.2);
    assert.equal(u.propensity({ bucket: 42, fresh: false }, true), undefined, 'the same client again: not a new unit');
    assert.equal(u.propensity({ bucket: 5_000, fresh: false }, false), 0.2, 'a cookie from an earlier rollout: a new unit');
    u.startStep(0.5);
    assert.equal(u.propensity({ bucket: 42, fresh: false }, true), undefined, 'on the canary before, on it still: no news');
    assert.equal(u.propensity({ bucket: 5_000, fresh: false }, true), (0.5 - 0.2) / (1 - 0.2), 'on stable at 20%: moved with chance 3/8');
    assert.equal(canaryShare(0.005), 0.005);
  });
});

describe('comparison', () => {
  it('finds a worse canary and shows a same one within the margin, each from plain counts', () => {
    const worse = new Comparison(0.01);
    const same = new Comparison(0.01);
    for (let i = 0; i < 2_000; i++) {
      const canary = i % 5 === 0;
      worse.add(canary, 0.2, canary ? i % 3 === 0 : i % 200 === 0);
      same.add(canary, 0.2, i % 200 === 1);
    }
    assert.ok(worse.logFailEvidence() > Math.log(1_000));
    assert.ok(worse.logPassEvidence() < 0);
    assert.ok(same.logFailEvidence() < 0);
    assert.ok(same.logPassEvidence() > Math.log(20));
    assert.ok((same.upperBound(0.05) ?? 1) <= 0.01);
  });
});

describe('the analyzer on simulated traffic (1000 req/s, 20% weight unless said)', () => {
  for (const [name, traffic] of [
    ['independent requests', {}],
    ['one sticky client at 1% of traffic with 50% errors on both releases', { sticky: [{ share: 0.01, errorRate: 0.5 }] }],
    ['one sticky client at 0.5% of traffic, 400 ms slower on both', { sticky: [{ share: 0.005, errorRate: 0.005, extraMs: 400 }] }],
    ['errors in bursts of 50 on whichever release', { bursts: { size: 50, perSecond: 0.5 } }],
    ['a steady 5% of 404s on both', { notFound: 0.05 }],
  ] as const) {
    it(`never rolls back an identical canary: ${name} (40 seeded runs of 30 s)`, { timeout: 60_000 }, () => {
      const results = runs(40, { seconds: 30, ...traffic });
      assert.equal(results.filter((r) => r.failedAt !== undefined).length, 0);
      assert.ok(results.filter((r) => r.firstPassAt !== undefined).length >= 30, 'and mostly shows it good');
    });
  }

  for (const [name, traffic, within] of [
    ['30 points more errors', { canaryErr: 0.305 }, 1],
    ['10 points more errors', { canaryErr: 0.105 }, 2],
    ['a 404 for every route', { canaryStatus: 404 }, 1],
    ['50 ms slower on every request', { canaryExtraMs: () => 50 }, 1],
  ] as const) {
    it(`rolls back a canary with ${name} within ${within} s, never passing it first`, { timeout: 60_000 }, () => {
      for (const r of runs(20, { seconds: 10, ...traffic })) {
        assert.ok(r.failedAt !== undefined && r.failedAt <= within, `failed at ${r.failedAt}`);
        assert.equal(r.firstPassAt, undefined);
      }
    });
  }

  it('never passes a canary 2 points worse (the margin is 1): non-inferiority, not "not shown worse"', { timeout: 60_000 }, () => {
    const results = runs(10, { seconds: 60, canaryErr: 0.025 });
    assert.equal(results.filter((r) => r.firstPassAt !== undefined).length, 0);
    assert.ok(results.filter((r) => r.failedAt !== undefined).length >= 8, 'and usually shows it worse within a minute');
  });

  it('names a client that makes up most of the errors, without failing on it', { timeout: 30_000 }, () => {
    const [r] = runs(1, { seconds: 20, sticky: [{ share: 0.02, errorRate: 0.8 }] });
    assert.equal(r!.failedAt, undefined);
    assert.match(r!.last.heavyHitter ?? '', /^\d+% of the (canary|stable)'s errors \(\d+ of \d+\) came from one client/);
  });

  it('at 2 req/s: a good canary is not failed (it waits: zdd pauses it); a 50%-error one is rolled back', { timeout: 60_000 }, () => {
    const good = runs(20, { seconds: 120, reqPerSecond: 2 });
    assert.equal(good.filter((r) => r.failedAt !== undefined).length, 0);
    assert.match(good[0]!.last.detectable, /^(can detect \+[\d.]+ points? of errors so far|cannot detect a change in errors yet) \(4xx: /);
    const bad = runs(20, { seconds: 60, reqPerSecond: 2, canaryErr: 0.5 });
    assert.ok(bad.filter((r) => r.failedAt !== undefined).length >= 18, 'rolled back within a minute in ≥ 90% of runs');
  });

  it('guard rails: a canary as bad as a drifted stable fails against the best recent release', { timeout: 30_000 }, () => {
    const history = [
      { errorRate: 0.004, p99Ms: 20, requests: 50_000 },
      { errorRate: 0.006, p99Ms: 21, requests: 50_000 },
    ];
    const drifted = { seconds: 30, canaryErr: 0.03, stableErr: 0.03 };
    const guarded = runs(5, drifted, () => new CanaryAnalyzer({}, history));
    assert.ok(guarded.every((r) => r.failedAt !== undefined), 'the guard rail (0.4% + 1 point) catches 3% errors');
    assert.match(guarded[0]!.last.reason, /guard rail/);
    const unguarded = runs(5, drifted, () => new CanaryAnalyzer({ guardRails: false }, history));
    assert.ok(unguarded.every((r) => r.failedAt === undefined), 'compared with stable alone it is not worse');
  });
});
