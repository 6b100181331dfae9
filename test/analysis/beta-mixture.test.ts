import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareRate, logMixtureRatio, rateLowerBound, rateUpperBound } from '../../src/analysis/beta-mixture.ts';
import { lnGamma } from '../../src/analysis/special.ts';
import { mulberry32 } from './prng.ts';

const PRIOR = { a: 0.5, b: 5 };

describe('lnGamma', () => {
  it('matches log-factorials and Γ(½) = √π', () => {
    let logFact = 0;
    for (let n = 1; n <= 170; n++) {
      assert.ok(Math.abs(lnGamma(n) - logFact) < 1e-9 * Math.max(1, logFact), `n=${n}`);
      logFact += Math.log(n);
    }
    assert.ok(Math.abs(lnGamma(0.5) - 0.5 * Math.log(Math.PI)) < 1e-12);
    assert.ok(Math.abs(lnGamma(0.1) - 2.252712651734206) < 1e-12);
  });
});

describe('beta-mixture confidence sequence', () => {
  it('is an interval around the observed rate that shrinks with data', () => {
    const small = [rateLowerBound(3, 100, 0.01, PRIOR), rateUpperBound(3, 100, 0.01, PRIOR)] as const;
    const large = [rateLowerBound(300, 10_000, 0.01, PRIOR), rateUpperBound(300, 10_000, 0.01, PRIOR)] as const;
    assert.ok(small[0] < 0.03 && 0.03 < small[1]);
    assert.ok(large[0] < 0.03 && 0.03 < large[1]);
    assert.ok(large[1] - large[0] < small[1] - small[0]);
    assert.ok(large[0] > 0.02 && large[1] < 0.04, `${large}`);
  });

  it('has bounds 0 without successes and 1 without failures, but never both', () => {
    assert.equal(rateLowerBound(0, 50, 0.01, PRIOR), 0);
    assert.ok(rateUpperBound(0, 50, 0.01, PRIOR) < 0.2);
    assert.equal(rateUpperBound(50, 50, 0.01, PRIOR), 1);
    assert.ok(rateLowerBound(50, 50, 0.01, PRIOR) > 0.6); // the prior puts little mass near 1, so this end is looser
    assert.equal(rateLowerBound(0, 0, 0.01, PRIOR), 0);
    assert.equal(rateUpperBound(0, 0, 0.01, PRIOR), 1);
  });

  it('bounds sit where the evidence crosses 1/alpha', () => {
    const lo = rateLowerBound(40, 200, 0.005, PRIOR);
    const hi = rateUpperBound(40, 200, 0.005, PRIOR);
    const threshold = Math.log(1 / 0.005);
    assert.ok(Math.abs(logMixtureRatio(40, 200, lo, PRIOR) - threshold) < 1e-6);
    assert.ok(Math.abs(logMixtureRatio(40, 200, hi, PRIOR) - threshold) < 1e-6);
    assert.equal(compareRate(40, 200, lo * 0.99, 0.005, PRIOR), 1);
    assert.equal(compareRate(40, 200, hi * 1.01, 0.005, PRIOR), -1);
    assert.equal(compareRate(40, 200, 0.2, 0.005, PRIOR), 0);
  });

  it('covers the true rate at every step of a stream, in ≥ 1 − alpha of streams (seeded)', () => {
    // Checked after every single observation: the continuous-monitoring worst case.
    const alpha = 0.05;
    const rand = mulberry32(2024);
    const streams = 400;
    let everMissed = 0;
    for (const p of [0.005, 0.05, 0.3]) {
      for (let s = 0; s < streams; s++) {
        let k = 0;
        for (let n = 1; n <= 2000; n++) {
          if (rand() < p) k++;
          if (compareRate(k, n, p, alpha, PRIOR) !== 0) {
            everMissed++;
            break;
          }
        }
      }
    }
    const rate = everMissed / (3 * streams);
    assert.ok(rate <= alpha, `miscoverage ${rate}`);
  });
});
