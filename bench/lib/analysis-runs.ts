// One simulated canary run for bench/analysis-sim.ts: the traffic simulator of the analysis tests
// (test/analysis/traffic.ts: zdd's bucket routing, sticky clients, bursts, evaluate() every 250 ms)
// driving a real CanaryAnalyzer, with a naive request-level z-test watching the same requests.

import { Comparison } from '../../src/analysis/comparison.ts';
import { CanaryAnalyzer, defaultAnalysisSettings, type AnalysisSettings, type Observation, type Outcome, type Verdict } from '../../src/analysis/index.ts';
import { drive, type Traffic } from '../../test/analysis/traffic.ts';

/** One row's scenario: `id` names it and seeds its runs, so a row's numbers do not depend on the others. */
export interface SimCase {
  id: string;
  traffic: Omit<Traffic, 'seed'>;
  runs: number;
  /** Analysis settings over the defaults. */
  settings?: Partial<AnalysisSettings>;
}

export interface RunResult {
  seed: number;
  /** Seconds of traffic when evaluate() first said fail / pass; undefined: never within the window. */
  failedAt: number | undefined;
  firstPassAt: number | undefined;
  /** The verdict at the end of the window. */
  end: Outcome;
  /** The failing verdict's reason, to show what a false rollback was about. */
  failReason: string | undefined;
  /** When the naive z-test (below) first rejected, on the same requests. */
  naiveFailedAt: number | undefined;
}

/** How often traffic.ts calls evaluate(): every 250 ms of simulated time. */
const tickSeconds = 0.25;

/** One-sided 1% critical value of the standard normal. */
export const naiveZ = 2.3263478740408408;

/**
 * The approach the analysis replaced, for contrast: a one-sided pooled two-proportion z-test of the
 * canary's request error rate against stable's, over every request so far, re-run at every look. It treats
 * requests as independent and ignores that it looks again and again.
 */
export class NaiveZTest {
  #canary = 0;
  #canaryErrors = 0;
  #stable = 0;
  #stableErrors = 0;

  record(o: Observation): void {
    const error = o.status === 0 || o.status >= 500;
    if (o.release === 'canary') {
      this.#canary++;
      if (error) this.#canaryErrors++;
    } else {
      this.#stable++;
      if (error) this.#stableErrors++;
    }
  }

  rejects(z = naiveZ): boolean {
    if (this.#canary === 0 || this.#stable === 0) return false;
    const pooled = (this.#canaryErrors + this.#stableErrors) / (this.#canary + this.#stable);
    const variance = pooled * (1 - pooled) * (1 / this.#canary + 1 / this.#stable);
    if (variance === 0) return false;
    return (this.#canaryErrors / this.#canary - this.#stableErrors / this.#stable) / Math.sqrt(variance) > z;
  }
}

/**
 * The analyzer exactly as zdd runs it, plus a naive z-test on the same requests. Once it has failed its
 * verdict is final (evaluate() returns it until a new analyzer), so it skips its bookkeeping from then on:
 * the same results, faster runs.
 */
class WatchedAnalyzer extends CanaryAnalyzer {
  readonly naive = new NaiveZTest();
  naiveFailedAt: number | undefined;
  #looks = 0;

  override record(o: Observation): void {
    this.naive.record(o);
    if (!this.failed) super.record(o);
  }

  override evaluate(): Verdict {
    this.#looks++;
    if (this.naiveFailedAt === undefined && this.naive.rejects()) this.naiveFailedAt = this.#looks * tickSeconds;
    return super.evaluate();
  }
}

/** The seed of run `run` of a case: FNV-1a of "id#run" (drive() seeds its mulberry32 with it). */
export function seedOf(id: string, run: number): number {
  let h = 0x811c9dc5;
  for (const ch of `${id}#${run}`) {
    h ^= ch.codePointAt(0)!;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function runOnce(c: SimCase, run: number): RunResult {
  const seed = seedOf(c.id, run);
  const analyzer = new WatchedAnalyzer(c.settings);
  const r = drive(analyzer, { ...c.traffic, seed });
  return {
    seed,
    failedAt: r.failedAt,
    firstPassAt: r.firstPassAt,
    end: r.last.outcome,
    failReason: r.failedAt === undefined ? undefined : r.last.reason,
    naiveFailedAt: analyzer.naiveFailedAt,
  };
}

/** The error test's share of alpha in analyzer.ts (errors 4/9, 4xx 2/9, 3xx 1/9, latency 2/9, without ceilings). */
export const errorAlphaShare = 4 / 9;

/**
 * The fewest canary units with an error, and nothing else seen, that make the error test fail with the
 * default settings when the canary has share `pi` of the units: what a very bad canary needs at low traffic.
 */
export function canaryErrorsToFail(pi: number): number {
  const s = defaultAnalysisSettings;
  const need = Math.log(1 / (s.alpha * errorAlphaShare));
  const c = new Comparison(s.maxErrorRateIncrease);
  for (let k = 1; k <= 1000; k++) {
    c.add(true, pi, true);
    if (c.logFailEvidence() >= need) return k;
  }
  return Infinity;
}
