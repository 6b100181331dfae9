import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bucketIndex, defaultLayout, makeLayout } from '../../src/analysis/histogram.ts';
import { ReleaseSample } from '../../src/analysis/window.ts';
import { logNormal, mulberry32 } from './prng.ts';

describe('bucket layout', () => {
  it('covers 0.1 ms to 60 s in ≤ 10% steps', () => {
    const { edges, size } = defaultLayout;
    assert.equal(edges[0], 0.1);
    assert.ok(edges[size - 2]! >= 60_000);
    assert.equal(edges[size - 1], Infinity);
    for (let i = 1; i < size - 1; i++) assert.ok(edges[i]! / edges[i - 1]! <= 1.1 + 1e-12);
  });

  it('puts every value in the bucket whose (lower, upper] range holds it, exactly at edges too', () => {
    const { edges, size } = defaultLayout;
    for (let i = 1; i < size - 1; i++) {
      assert.equal(bucketIndex(defaultLayout, edges[i]!), i, `edge ${i} itself`);
      assert.equal(bucketIndex(defaultLayout, edges[i]! * (1 + 1e-12)), i + 1, `just above edge ${i}`);
    }
    const rand = mulberry32(7);
    for (let k = 0; k < 10_000; k++) {
      const x = Math.exp(rand() * 14 - 3); // ~0.05 ms .. 60 s
      const i = bucketIndex(defaultLayout, x);
      assert.ok(x <= edges[i]!, `${x} ≤ upper edge`);
      if (i > 0) assert.ok(x > edges[i - 1]!, `${x} > lower edge`);
    }
  });

  it('sends zero and negatives to the first bucket, and NaN / huge values to the overflow bucket', () => {
    const last = defaultLayout.size - 1;
    assert.equal(bucketIndex(defaultLayout, 0), 0);
    assert.equal(bucketIndex(defaultLayout, -5), 0);
    assert.equal(bucketIndex(defaultLayout, 1e9), last);
    assert.equal(bucketIndex(defaultLayout, Infinity), last);
    assert.equal(bucketIndex(defaultLayout, Number.NaN), last);
  });

  it('rejects nonsense layouts', () => {
    assert.throws(() => makeLayout(0, 10, 1.1), RangeError);
    assert.throws(() => makeLayout(1, 10, 1), RangeError);
  });
});

describe('ReleaseSample', () => {
  it('counts requests and errors', () => {
    const s = new ReleaseSample();
    s.record(true, 10);
    s.record(false, 20);
    s.record(false, 30);
    assert.equal(s.requests, 3);
    assert.equal(s.errors, 2);
    assert.equal(s.errorRate(), 2 / 3);
    s.reset();
    assert.equal(s.requests, 0);
    assert.equal(s.errorRate(), undefined);
    assert.equal(s.quantile(0.99), undefined);
  });

  it('reports quantiles within one bucket ratio of the exact sample quantile', () => {
    const rand = mulberry32(42);
    const draw = logNormal(rand, 12, 0.6);
    const s = new ReleaseSample();
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const x = draw();
      values.push(x);
      s.record(true, x);
    }
    values.sort((a, b) => a - b);
    for (const q of [0.01, 0.1, 0.5, 0.9, 0.99, 0.999]) {
      const exact = values[Math.ceil(q * values.length) - 1]!;
      const got = s.quantile(q)!;
      const ratio = got / exact;
      // geometric bucket middle: within √1.1 either way
      assert.ok(ratio <= Math.sqrt(1.1) + 1e-9 && ratio >= 1 / Math.sqrt(1.1) - 1e-9, `q=${q}: ${got} vs exact ${exact}`);
    }
  });

  it('counts latencies strictly above each edge exactly', () => {
    const s = new ReleaseSample();
    const { edges } = s.layout;
    const values = [0.05, 1, edges[30]!, edges[30]! * 1.0001, 250, 70_000];
    for (const v of values) s.record(true, v);
    const above = s.countsAbove();
    for (let i = 0; i < s.layout.size; i++) {
      assert.equal(above[i], values.filter((v) => v > edges[i]!).length, `edge ${edges[i]}`);
    }
  });
});
