// The deploy strategies' pure decisions, from plain values: what a canary step does after a look at the
// analysis, how a rolling update moves, how big a canary is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resolveSettings } from '../../src/analysis/config.ts';
import { analysisBounds, canaryScale, decideHold } from '../../src/deploy/strategies/canary.ts';
import { nextBatch, rollingBounds } from '../../src/deploy/strategies/rolling.ts';

describe('decideHold (a canary step after one look at the analysis)', () => {
  const base = { heldMs: 0, pauseMs: 30_000 as number | undefined, deadlineMs: 120_000 };
  it('fails at once on a failed analysis, even before the pause is over or without a pause', () => {
    assert.equal(decideHold({ ...base, outcome: 'fail' }), 'fail');
    assert.equal(decideHold({ ...base, pauseMs: undefined, outcome: 'fail' }), 'fail');
  });
  it('passes only once the pause is over', () => {
    assert.equal(decideHold({ ...base, heldMs: 29_999, outcome: 'pass' }), 'wait');
    assert.equal(decideHold({ ...base, heldMs: 30_000, outcome: 'pass' }), 'pass');
  });
  it('waits on an inconclusive analysis until pause + deadline, then pauses for a person rather than promote blind or fail', () => {
    assert.equal(decideHold({ ...base, heldMs: 149_999, outcome: 'inconclusive' }), 'wait');
    assert.equal(decideHold({ ...base, heldMs: 150_000, outcome: 'inconclusive' }), 'pause');
  });
  it('without a pause, waits for zdd promote whatever the analysis says short of a failure', () => {
    assert.equal(decideHold({ ...base, pauseMs: undefined, heldMs: 10_000_000, outcome: 'pass' }), 'wait');
    assert.equal(decideHold({ ...base, pauseMs: undefined, heldMs: 10_000_000, outcome: 'inconclusive' }), 'wait');
  });
});

describe('analysisBounds (the lines the dashboard draws against stable)', () => {
  it('is stable plus the margins: +1 point of errors, 2× p99 and at least +20 ms; capped by the ceilings; null before stable answered', () => {
    const defaults = resolveSettings();
    assert.deepEqual(analysisBounds(defaults, 0.02, 100), { errorRate: 0.03, p99Ms: 200 });
    assert.deepEqual(analysisBounds(defaults, 0, 5), { errorRate: 0.01, p99Ms: 25 });
    assert.deepEqual(analysisBounds(defaults, null, null), { errorRate: null, p99Ms: null });
    const ceilings = resolveSettings({ maxErrorRate: 0.02, maxP99Ms: 150 });
    assert.deepEqual(analysisBounds(ceilings, 0.015, 100), { errorRate: 0.02, p99Ms: 150 });
    assert.deepEqual(analysisBounds(ceilings, null, null), { errorRate: 0.02, p99Ms: 150 }, 'a ceiling holds before stable answered');
  });
});

describe('canaryScale', () => {
  it('sizes the canary for its share of traffic, at least one instance', () => {
    assert.equal(canaryScale(4, 10), 1);
    assert.equal(canaryScale(4, 50), 2);
    assert.equal(canaryScale(4, 51), 3);
    assert.equal(canaryScale(1, 1), 1);
  });
});

describe('rolling updates', () => {
  it('reads maxSurge/maxUnavailable as counts or percentages of replicas, never both zero', () => {
    assert.deepEqual(rollingBounds({ maxSurge: '25%', maxUnavailable: '25%' }, 4), { surge: 1, unavailable: 1 });
    assert.deepEqual(rollingBounds({ maxSurge: 0, maxUnavailable: 0 }, 4), { surge: 1, unavailable: 0 });
    assert.deepEqual(rollingBounds({ maxSurge: 2, maxUnavailable: 10 }, 3), { surge: 2, unavailable: 2 });
  });
  it('never lets serving instances fall below replicas − maxUnavailable', () => {
    // 3 old serving, none new, surge 1, unavailable 0: start one new, stop none yet.
    assert.deepEqual(nextBatch({ replicas: 3, surge: 1, unavailable: 0, oldCount: 3, oldServing: 3, newCount: 0, newServing: 0 }), { stopOld: 0, startNew: 1 });
    // One new serving: one old may go, and one more new may start.
    assert.deepEqual(nextBatch({ replicas: 3, surge: 1, unavailable: 0, oldCount: 3, oldServing: 3, newCount: 1, newServing: 1 }), { stopOld: 1, startNew: 1 });
  });
});
