import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CanaryAnalyzer, splitAlpha } from '../../src/analysis/analyzer.ts';
import { defaultAnalysisSettings, resolveSettings } from '../../src/analysis/config.ts';
import { drive } from './traffic.ts';

const slowShare = (share: number, extraMs: number) => (rand: () => number) => (rand() < share ? extraMs : 0);

describe('CanaryAnalyzer: error rate', () => {
  it('fails a canary erroring on 30% of requests within 1 s at 1000 req/s and 20% weight', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const a = new CanaryAnalyzer();
      const { failedAt, last } = drive(a, { seed, seconds: 3, canaryErr: 0.3 });
      assert.ok(failedAt !== undefined && failedAt <= 1, `seed ${seed}: failed at ${failedAt}`);
      assert.equal(last.outcome, 'fail');
      const metric = last.metrics.find((m) => m.metric === 'error-rate')!;
      assert.equal(metric.outcome, 'fail');
      assert.ok(metric.canary! > 0.15 && metric.stable! < 0.05);
    }
  });

  it('explains a fail with the metric, both values, counts and the test', () => {
    const a = new CanaryAnalyzer();
    const { last } = drive(a, { seed: 3, seconds: 1, canaryErr: 0.3 });
    assert.match(last.reason, /^error rate \d+(\.\d+)?% on canary vs \d+(\.\d+)?% on stable \(n=\d+ vs \d+; .*always-valid test, alpha 0\.005\)$/);
    assert.ok(last.reason.includes(`n=${last.canaryRequests} vs ${last.stableRequests}`));
    assert.ok(last.canaryRequests > 0 && last.canaryRequests <= a.canary.requests);
  });

  it('does not fail a canary within the tolerated margin, and passes it', () => {
    const a = new CanaryAnalyzer(); // margin: 1 point
    const { outcomes, last } = drive(a, { seed: 4, seconds: 30, canaryErr: 0.01, stableErr: 0.005 });
    assert.ok(!outcomes.has('fail'));
    assert.equal(last.outcome, 'pass');
  });

  it('fails a small regression once the margin is tightened', () => {
    const a = new CanaryAnalyzer({ maxErrorRateIncrease: 0 });
    const { failedAt } = drive(a, { seed: 4, seconds: 60, canaryErr: 0.02, stableErr: 0.005 });
    assert.ok(failedAt !== undefined, 'a 4× error rate is caught with margin 0');
  });
});

describe('CanaryAnalyzer: A/A (identical releases)', () => {
  it('never fails on seeded streams evaluated every 250 ms for 60 s, at 5%, 20% and 50%', () => {
    for (const weight of [0.05, 0.2, 0.5]) {
      for (let seed = 100; seed < 106; seed++) {
        const a = new CanaryAnalyzer();
        const { outcomes, last } = drive(a, { seed, seconds: 60, weight });
        assert.ok(!outcomes.has('fail'), `weight ${weight} seed ${seed}: ${last.reason}`);
        assert.equal(last.outcome, 'pass', last.reason);
      }
    }
  });

  it('never fails even with strict nulls (no margin, p99 ratio 1, +0 ms) on the same streams', () => {
    for (let seed = 100; seed < 110; seed++) {
      const a = new CanaryAnalyzer({ maxErrorRateIncrease: 0, latencyRatio: 1, latencyMinIncreaseMs: 0 });
      const { outcomes } = drive(a, { seed, seconds: 60 });
      assert.ok(!outcomes.has('fail'), `seed ${seed}`);
    }
  });
});

describe('CanaryAnalyzer: latency', () => {
  it('fails a canary whose p99 is ~300 ms (5% of requests +300 ms) vs ~20 ms within a few seconds', () => {
    for (let seed = 1; seed <= 10; seed++) {
      const a = new CanaryAnalyzer();
      const { failedAt, last } = drive(a, { seed, seconds: 10, canaryExtraMs: slowShare(0.05, 300) });
      assert.ok(failedAt !== undefined && failedAt <= 4, `seed ${seed}: ${failedAt}`);
      const metric = last.metrics.find((m) => m.metric === 'latency-p99')!;
      assert.equal(metric.outcome, 'fail');
      assert.ok(metric.canary! > 250 && metric.stable! < 30, `${metric.canary} vs ${metric.stable}`);
      assert.match(last.reason, /^p99 latency \d+ ms on canary vs \d+(\.\d)? ms on stable/);
    }
  });

  it('does not fail a canary that is slower but within 2× / +100 ms', () => {
    const a = new CanaryAnalyzer();
    const { outcomes } = drive(a, { seed: 8, seconds: 30, canaryExtraMs: () => 50 }); // p99 ≈ 70 ms vs 20 ms
    assert.ok(!outcomes.has('fail'));
  });
});

describe('CanaryAnalyzer: absolute ceilings', () => {
  it('fails on maxErrorRate even when stable is just as bad', () => {
    const a = new CanaryAnalyzer({ maxErrorRate: 0.02 });
    const { last } = drive(a, { seed: 5, seconds: 20, canaryErr: 0.05, stableErr: 0.05 });
    assert.equal(last.outcome, 'fail');
    const failing = last.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric);
    assert.deepEqual(failing, ['max-error-rate']);
    assert.match(last.reason, /above the 2\.0% ceiling/);
  });

  it('fails on maxP99Ms even when stable is just as slow', () => {
    const a = new CanaryAnalyzer({ maxP99Ms: 100 });
    const slow = slowShare(0.05, 300);
    const { last } = drive(a, { seed: 6, seconds: 20, canaryExtraMs: slow, stableExtraMs: slow });
    assert.equal(last.outcome, 'fail');
    assert.deepEqual(last.metrics.filter((m) => m.outcome === 'fail').map((m) => m.metric), ['max-p99']);
  });

  it('passes a canary comfortably under both ceilings', () => {
    const a = new CanaryAnalyzer({ maxErrorRate: 0.02, maxP99Ms: 100 });
    const { outcomes, last } = drive(a, { seed: 7, seconds: 20 });
    assert.ok(!outcomes.has('fail'));
    assert.equal(last.outcome, 'pass');
    assert.deepEqual(last.metrics.map((m) => m.metric), ['error-rate', 'max-error-rate', 'latency-p99', 'max-p99']);
  });

  it('spends extra alpha only on the error ceiling (the p99 ceiling reuses the canary bound)', () => {
    const plain = splitAlpha(resolveSettings());
    const both = splitAlpha(resolveSettings({ maxErrorRate: 0.02, maxP99Ms: 100 }));
    assert.equal(plain.errorRate + 2 * plain.p99Bound, 0.01);
    assert.equal(both.errorRate + both.maxErrorRate + 2 * both.p99Bound, 0.01);
  });
});

describe('CanaryAnalyzer: no data is never success', () => {
  it('is inconclusive with no traffic', () => {
    const v = new CanaryAnalyzer().evaluate();
    assert.equal(v.outcome, 'inconclusive');
    assert.equal(v.reason, 'no canary requests yet');
  });

  it('never passes below minRequests, however perfect the data', () => {
    const a = new CanaryAnalyzer({ minRequests: 500 });
    for (let i = 0; i < 499; i++) a.record('canary', true, 5);
    for (let i = 0; i < 5000; i++) a.record('stable', true, 5);
    const v = a.evaluate();
    assert.equal(v.outcome, 'inconclusive');
    assert.match(v.reason, /499 canary and 5000 stable requests of the 500 needed/);
    a.record('canary', true, 5);
    assert.equal(a.evaluate().outcome, 'pass');
  });

  it('needs stable data too: a canary alone cannot pass the comparison', () => {
    const a = new CanaryAnalyzer({ minRequests: 10 });
    for (let i = 0; i < 10_000; i++) a.record('canary', true, 5);
    assert.equal(a.evaluate().outcome, 'inconclusive');
  });

  it('does not pass latency until stable p99 can be bounded', () => {
    const a = new CanaryAnalyzer({ minRequests: 50 });
    for (let i = 0; i < 200; i++) {
      a.record('canary', true, 5);
      a.record('stable', true, 5);
    }
    const v = a.evaluate();
    assert.equal(v.outcome, 'inconclusive');
    assert.equal(v.metrics.find((m) => m.metric === 'error-rate')!.outcome, 'pass');
    assert.equal(v.metrics.find((m) => m.metric === 'latency-p99')!.outcome, 'inconclusive');
  });

  it('with the default minRequests, a healthy canary at 20% of 1000 req/s first passes after ~2.5 s', () => {
    const { firstPassAt } = drive(new CanaryAnalyzer(), { seed: 9, seconds: 10 });
    assert.ok(firstPassAt !== undefined && firstPassAt >= defaultAnalysisSettings.minRequests / 200 && firstPassAt <= 4, `${firstPassAt}`);
  });
});

describe('CanaryAnalyzer: stickiness and reset', () => {
  it('keeps failing after a fail, even if the canary recovers', () => {
    const a = new CanaryAnalyzer();
    const { failedAt, last } = drive(a, { seed: 10, seconds: 1, canaryErr: 0.5 });
    assert.ok(failedAt !== undefined);
    drive(a, { seed: 11, seconds: 30, canaryErr: 0 }); // long healthy stretch afterwards
    const after = a.evaluate();
    assert.equal(after.outcome, 'fail');
    assert.equal(after.reason, last.reason);
    assert.ok(a.failed);
  });

  it('reset() starts a fresh window', () => {
    const a = new CanaryAnalyzer();
    drive(a, { seed: 12, seconds: 1, canaryErr: 0.5 });
    assert.equal(a.evaluate().outcome, 'fail');
    a.reset();
    assert.equal(a.failed, false);
    assert.equal(a.canary.requests, 0);
    assert.equal(a.steps, 1);
    const { outcomes, last } = drive(a, { seed: 13, seconds: 10 });
    assert.ok(!outcomes.has('fail'));
    assert.equal(last.outcome, 'pass');
  });
});

describe('CanaryAnalyzer: weight changes', () => {
  const steps = (t: number): number => (t <= 20 ? 0.2 : t <= 40 ? 0.5 : 0.8);

  it('stays valid across 20% → 50% → 80% on A/A traffic (seeded)', () => {
    for (let seed = 200; seed < 208; seed++) {
      const a = new CanaryAnalyzer({ maxErrorRateIncrease: 0, latencyRatio: 1, latencyMinIncreaseMs: 0 });
      const { outcomes } = drive(a, { seed, seconds: 60, weight: steps });
      assert.ok(!outcomes.has('fail'), `seed ${seed}`);
      assert.equal(a.steps, 3);
    }
  });

  it('a shared incident after a step up is not blamed on the canary when weights are reported', () => {
    const incident = (t: number): number => (t > 42 && t <= 47 ? 0.1 : 0.005);
    const spike = (_: () => number, t: number): number => (t > 42 && t <= 43 ? 200 : 0);
    for (let seed = 300; seed < 305; seed++) {
      const told = drive(new CanaryAnalyzer(), { seed, seconds: 60, weight: steps, canaryErr: incident, stableErr: incident, canaryExtraMs: spike, stableExtraMs: spike });
      assert.ok(!told.outcomes.has('fail'), `seed ${seed}: ${told.last.reason}`);
    }
    // Without setWeight() the window is pooled and the same traffic does fail: the reason the API exists.
    const blind = drive(new CanaryAnalyzer(), { seed: 300, seconds: 60, weight: steps, canaryErr: incident, stableErr: incident, canaryExtraMs: spike, stableExtraMs: spike, tellWeight: false });
    assert.ok(blind.outcomes.has('fail'));
  });

  it('catches a regression that only appears after a weight change, pooling evidence across steps', () => {
    const a = new CanaryAnalyzer();
    const { failedAt } = drive(a, { seed: 14, seconds: 40, weight: steps, canaryErr: (t) => (t > 20 ? 0.1 : 0.005) });
    assert.ok(failedAt !== undefined && failedAt > 20 && failedAt <= 22, `${failedAt}`);
  });

  it('ignores a repeated or pre-traffic setWeight, and rejects nonsense', () => {
    const a = new CanaryAnalyzer();
    a.setWeight(0.1);
    a.setWeight(0.2); // nothing recorded yet: relabels step 1
    a.record('canary', true, 5);
    a.setWeight(0.2);
    assert.equal(a.steps, 1);
    a.setWeight(0.5);
    assert.equal(a.steps, 2);
    assert.throws(() => a.setWeight(1.5), RangeError);
    assert.throws(() => a.setWeight(Number.NaN), RangeError);
  });
});

describe('settings', () => {
  it('fills defaults and keeps explicit undefined as "not set"', () => {
    const s = resolveSettings({ alpha: 0.05, maxP99Ms: undefined });
    assert.equal(s.alpha, 0.05);
    assert.equal(s.minRequests, defaultAnalysisSettings.minRequests);
    assert.equal(s.maxP99Ms, undefined);
  });

  it('rejects values that would make the tests meaningless', () => {
    assert.throws(() => new CanaryAnalyzer({ alpha: 0 }), RangeError);
    assert.throws(() => new CanaryAnalyzer({ alpha: Number.NaN }), RangeError);
    assert.throws(() => new CanaryAnalyzer({ latencyRatio: 0.5 }), RangeError);
    assert.throws(() => new CanaryAnalyzer({ minRequests: 0 }), RangeError);
    assert.throws(() => new CanaryAnalyzer({ maxErrorRate: 1 }), RangeError);
    assert.throws(() => new CanaryAnalyzer({ maxErrorRateIncrease: -0.01 }), RangeError);
  });

  it('a zero error ceiling fails on the first canary error', () => {
    const a = new CanaryAnalyzer({ maxErrorRate: 0 });
    for (let i = 0; i < 100; i++) a.record('canary', true, 5);
    assert.notEqual(a.evaluate().outcome, 'fail');
    a.record('canary', false, 5);
    assert.equal(a.evaluate().outcome, 'fail');
  });
});
