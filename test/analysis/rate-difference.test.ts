import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { logEvidence, logEvidenceRateIncrease, restrictedLogLik, stepTerms } from '../../src/analysis/rate-difference.ts';
import { mulberry32 } from './prng.ts';

const PRIOR = { a: 0.5, b: 5 };
const c = (errors: number, requests: number) => ({ errors, requests });

function logLik(e: number, n: number, p: number): number {
  return (e > 0 ? e * Math.log(p) : 0) + (n - e > 0 ? (n - e) * Math.log(1 - p) : 0);
}

describe('restricted maximum likelihood', () => {
  it('matches a brute-force grid search over the null', () => {
    const cases: [number, number, number, number, number][] = [
      [30, 100, 2, 400, 0.01],
      [5, 50, 0, 200, 0],
      [100, 100, 1, 300, 0.05],
      [12, 200, 20, 800, 0.01], // MLE inside the null
    ];
    for (const [ec, nc, es, ns, margin] of cases) {
      let best = -Infinity;
      const steps = 4000;
      for (let i = 0; i <= steps; i++) {
        const ps = i / steps;
        // For a fixed p_s the best allowed p_c is the canary MLE clipped to the null.
        const pc = Math.min(ec / nc, Math.min(1, ps + margin));
        best = Math.max(best, logLik(ec, nc, pc) + logLik(es, ns, ps));
      }
      const got = restrictedLogLik(c(ec, nc), c(es, ns), margin);
      assert.ok(got >= best - 1e-6, `${[ec, nc, es, ns, margin]}: ${got} < grid ${best}`);
      assert.ok(got - best < 0.05, `${[ec, nc, es, ns, margin]}: ${got} ≫ grid ${best}`);
    }
  });
});

describe('evidence that the canary error rate exceeds stable + margin', () => {
  it('is negative when the canary looks no worse than stable + margin', () => {
    assert.ok(logEvidenceRateIncrease(c(2, 200), c(8, 800), 0.01, PRIOR) <= 0);
    assert.ok(logEvidenceRateIncrease(c(3, 100), c(2, 400), 0.05, PRIOR) <= 0);
    assert.ok(logEvidenceRateIncrease(c(0, 0), c(0, 0), 0, PRIOR) <= 0);
  });

  it('is large for a clearly failing canary, and grows with data', () => {
    const early = logEvidenceRateIncrease(c(15, 50), c(1, 200), 0.01, PRIOR);
    const later = logEvidenceRateIncrease(c(60, 200), c(4, 800), 0.01, PRIOR);
    assert.ok(early > Math.log(1 / 0.005), `early ${early}`);
    assert.ok(later > early);
  });

  it('cannot show "worse than stable" without stable data', () => {
    assert.ok(logEvidenceRateIncrease(c(50, 50), c(0, 0), 0.01, PRIOR) <= 0);
  });

  it('with one stratum equals the single-window form', () => {
    const canary = c(20, 300);
    const stable = c(5, 900);
    assert.equal(
      logEvidence(canary, stable, [stepTerms(canary, stable, 0.01, PRIOR)], PRIOR),
      logEvidenceRateIncrease(canary, stable, 0.01, PRIOR),
    );
  });

  it('stratifying by weight step removes the bias of a shared incident at a higher weight', () => {
    // Step 1 (20%): both at 0.5%. Step 2 (80%): both at 10% (a shared incident).
    const s1 = { canary: c(10, 2000), stable: c(40, 8000) };
    const s2 = { canary: c(400, 4000), stable: c(100, 1000) };
    const canary = c(410, 6000);
    const stable = c(140, 9000);
    const pooled = logEvidenceRateIncrease(canary, stable, 0.01, PRIOR);
    const steps = [stepTerms(s1.canary, s1.stable, 0.01, PRIOR), stepTerms(s2.canary, s2.stable, 0.01, PRIOR)];
    const stratified = logEvidence(canary, stable, steps, PRIOR);
    assert.ok(pooled > Math.log(1 / 0.005), `pooled window is fooled: ${pooled}`);
    assert.ok(stratified < 0, `stratified: ${stratified}`);
  });

  it('reacts at once to a regression that starts with a new step (fresh per-step bet)', () => {
    const s1 = { canary: c(20, 4000), stable: c(80, 16000) }; // 0.5% both, 20 s at 20%
    const s2 = { canary: c(50, 500), stable: c(2, 500) }; // then canary at 10% for 1 s at 50%
    const steps = [stepTerms(s1.canary, s1.stable, 0.01, PRIOR), stepTerms(s2.canary, s2.stable, 0.01, PRIOR)];
    const e = logEvidence(c(70, 4500), c(82, 16500), steps, PRIOR);
    assert.ok(e > Math.log(1 / 0.005), `${e}`);
    // A single rate per release across both steps would still be unconvinced: 70/4500 is only 1.6%.
    const pooledOnly = logEvidence(c(70, 4500), c(82, 16500), [{ marginal: -Infinity, restricted: steps[0]!.restricted + steps[1]!.restricted }], PRIOR);
    assert.ok(pooledOnly < Math.log(1 / 0.005), `${pooledOnly}`);
  });

  it('keeps A/A false alarms ≤ alpha when checked after every request (seeded)', () => {
    const alpha = 0.01;
    const rand = mulberry32(99);
    let alarms = 0;
    const streams = 300;
    for (let s = 0; s < streams; s++) {
      let ec = 0, nc = 0, es = 0, ns = 0;
      for (let i = 0; i < 3000; i++) {
        if (rand() < 0.3) {
          nc++;
          if (rand() < 0.05) ec++;
        } else {
          ns++;
          if (rand() < 0.05) es++;
        }
        if (ec / nc > es / ns && logEvidenceRateIncrease(c(ec, nc), c(es, ns), 0, PRIOR) >= Math.log(1 / alpha)) {
          alarms++;
          break;
        }
      }
    }
    assert.ok(alarms / streams <= alpha, `false alarms ${alarms}/${streams}`);
  });
});
