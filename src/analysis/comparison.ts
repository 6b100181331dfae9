import { emptyCells, logMixture, type Cells } from './betting.ts';

/** Margins tried for the bound reported in status ("can rule out more than +x so far"). */
const boundGrid = [0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 0.5, 0.8];

/** Steps beyond this share the last one's bookkeeping (still valid, just less sharp). */
const maxSteps = 32;

/**
 * One 0/1 metric (an error, a 4xx, a slow answer) compared between canary and stable over the units of a
 * rollout, by the randomization test of betting.ts.
 *
 * - Fail ("shown worse by more than the margin") watches the whole rollout (weight 3/4) and, with smaller
 *   weights, each later weight step on its own from its start: a regression that only starts at a higher
 *   weight is not held back by the evidence of the steps before.
 * - Pass ("shown not worse by more than the margin", non-inferiority) is judged on the current step:
 *   each weight must earn its own pass.
 */
export class Comparison {
  readonly margin: number;
  /** Per step: cells by assignment probability (and group, e.g. the latency threshold in force). */
  readonly #steps: Map<string, Cells>[] = [];
  canaryUnits = 0;
  stableUnits = 0;
  canaryYes = 0;
  stableYes = 0;

  constructor(margin: number) {
    this.margin = margin;
    this.startStep();
  }

  startStep(): void {
    if (this.#steps.length < maxSteps) this.#steps.push(new Map());
  }

  /** One unit: its side, the chance it had of going to the canary, and its outcome. */
  add(canary: boolean, pi: number, yes: boolean, group = 0): void {
    const step = this.#steps[this.#steps.length - 1]!;
    const key = `${pi}:${group}`;
    let cells = step.get(key);
    if (!cells) step.set(key, (cells = emptyCells(pi)));
    if (canary) {
      this.canaryUnits++;
      if (yes) this.canaryYes++;
      if (yes) cells.canaryYes++;
      else cells.canaryNo++;
    } else {
      this.stableUnits++;
      if (yes) this.stableYes++;
      if (yes) cells.stableYes++;
      else cells.stableNo++;
    }
  }

  /** log e-value that the canary is worse than stable by more than the margin. */
  logFailEvidence(): number {
    const steps = this.#steps.map((s) => [...s.values()]);
    const terms: number[] = [];
    for (let k = 0; k < steps.length; k++) {
      const since = steps.slice(k).flat();
      terms.push(Math.log(stepWeight(k)) + logMixture(since, this.margin, 'worse'));
    }
    // Steps not started yet keep their weight at e-value 1: the sum stays a supermartingale.
    let unstarted = 1;
    for (let k = 0; k < steps.length; k++) unstarted -= stepWeight(k);
    return logSumExp(unstarted > 0 ? [...terms, Math.log(unstarted)] : terms);
  }

  /** log e-value, in the current step, that the canary is NOT worse than stable by `margin` or more. */
  logPassEvidence(margin = this.margin): number {
    return logMixture([...this.#current().values()], margin, 'not-worse');
  }

  /** The smallest margin the current step shows the canary stays within (at level alpha), if any. */
  upperBound(alpha: number): number | undefined {
    const need = Math.log(1 / alpha);
    return boundGrid.find((d) => this.logPassEvidence(d) >= need);
  }

  /** Units in the current step, per side. */
  currentUnits(): { canary: number; stable: number } {
    let canary = 0;
    let stable = 0;
    for (const c of this.#current().values()) {
      canary += c.canaryYes + c.canaryNo;
      stable += c.stableYes + c.stableNo;
    }
    return { canary, stable };
  }

  #current(): Map<string, Cells> {
    return this.#steps[this.#steps.length - 1]!;
  }
}

/** The whole rollout's bet weighs 3/4; a bet from the start of step k ≥ 2 weighs 2^-(k+1) (they sum to 1). */
function stepWeight(index: number): number {
  return index === 0 ? 0.75 : Math.pow(2, -(index + 2));
}

function logSumExp(xs: readonly number[]): number {
  const max = Math.max(...xs);
  if (max === -Infinity) return -Infinity;
  if (max === Infinity) return Infinity;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - max);
  return max + Math.log(sum);
}
