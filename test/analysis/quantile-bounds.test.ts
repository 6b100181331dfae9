import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantileLowerBound, quantileUpperBound } from '../../src/analysis/quantile-bounds.ts';
import { ReleaseSample } from '../../src/analysis/window.ts';
import { logNormal, mulberry32 } from './prng.ts';

const PRIOR = { a: 0.5, b: 5 };
// p99 of a log-normal with median 12 ms and sigma 0.3: 12·e^(0.3·2.3263)
const TRUE_P99 = 12 * Math.exp(0.3 * 2.3263478740408408);

describe('always-valid p99 bounds from the histogram', () => {
  it('know nothing without data', () => {
    const s = new ReleaseSample();
    assert.equal(quantileLowerBound(s, 0.99, 0.01, PRIOR), 0);
    assert.equal(quantileUpperBound(s, 0.99, 0.01, PRIOR), Infinity);
  });

  it('cannot bound p99 from above before there are enough requests to see a 1% tail', () => {
    const s = new ReleaseSample();
    for (let i = 0; i < 100; i++) s.record(true, 10);
    assert.equal(quantileUpperBound(s, 0.99, 0.0025, PRIOR), Infinity);
  });

  it('bracket the true p99 and tighten with data', () => {
    const rand = mulberry32(5);
    const draw = logNormal(rand, 12, 0.3);
    const s = new ReleaseSample();
    const widths: number[] = [];
    for (const n of [2000, 20_000, 200_000]) {
      while (s.requests < n) s.record(true, draw());
      const lo = quantileLowerBound(s, 0.99, 0.0025, PRIOR);
      const hi = quantileUpperBound(s, 0.99, 0.0025, PRIOR);
      assert.ok(lo < TRUE_P99 && TRUE_P99 <= hi, `n=${n}: ${lo} < ${TRUE_P99} ≤ ${hi}`);
      widths.push(hi / lo);
    }
    assert.ok(widths[2]! < widths[0]!, `${widths}`);
    assert.ok(widths[2]! < 1.25, `${widths}`); // a few buckets wide at 200k requests
  });

  it('a heavy slow tail pushes the lower bound up to the slow mode', () => {
    const rand = mulberry32(11);
    const draw = logNormal(rand, 12, 0.3);
    const s = new ReleaseSample();
    for (let i = 0; i < 1000; i++) s.record(true, draw() + (rand() < 0.05 ? 300 : 0));
    assert.ok(quantileLowerBound(s, 0.99, 0.0025, PRIOR) > 250);
  });

  it('never wrongly exclude the true p99 in ≥ 1 − alpha of streams, checked every 50 requests (seeded)', () => {
    const alpha = 0.05;
    const rand = mulberry32(77);
    const draw = logNormal(rand, 12, 0.3);
    const streams = 300;
    let missed = 0;
    for (let k = 0; k < streams; k++) {
      const s = new ReleaseSample();
      for (let i = 1; i <= 5000; i++) {
        s.record(true, draw());
        if (i % 50 !== 0) continue;
        // Both sides at alpha/2, as the analyzer splits them.
        if (quantileLowerBound(s, 0.99, alpha / 2, PRIOR) >= TRUE_P99 || quantileUpperBound(s, 0.99, alpha / 2, PRIOR) < TRUE_P99) {
          missed++;
          break;
        }
      }
    }
    assert.ok(missed / streams <= alpha, `missed ${missed}/${streams}`);
  });
});
