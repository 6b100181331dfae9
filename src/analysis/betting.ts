// The arithmetic of a design-based (randomization) test by betting. Each analysis unit — a client's
// bucket, or a request that was routed on a fresh coin flip — went to the canary (A = 1) with a known
// probability π, decided by zdd's router and by nothing about the unit. For a 0/1 outcome Y (an error,
// a 4xx, a slow answer) and a margin δ,
//
//     X = (A − π) · (Y − A·δ) / (π (1 − π))        has   E[X | everything before] = θ − δ
//
// where θ = P(Y = 1 | canary) − P(Y = 1 | stable) for that unit. Nothing else about the units is assumed:
// one client may send half the traffic, errors may come in bursts, outcomes may depend on one another.
// Betting a fraction of the wealth on X (fail: canary worse than δ) or on −X (pass: not worse by δ) gives
// a nonnegative supermartingale under the null; Ville's inequality bounds the chance it ever reaches 1/α.
// An average of fixed bets (a mixture) needs no tuning and is itself such a supermartingale.

/** Bet sizes, as fractions of the largest bet that can never lose everything. */
export const betFractions = [0.02, 0.05, 0.1, 0.2, 0.4, 0.7, 0.9, 0.98] as const;

/** Counts of units by arm and outcome, for one assignment probability π. */
export interface Cells {
  /** P(canary) for these units. */
  pi: number;
  canaryYes: number;
  canaryNo: number;
  stableYes: number;
  stableNo: number;
}

export function emptyCells(pi: number): Cells {
  return { pi, canaryYes: 0, canaryNo: 0, stableYes: 0, stableNo: 0 };
}

export type Direction = 'worse' | 'not-worse';

/**
 * The log of the wealth a fixed bet of `fraction` grew to over these cells. 'worse' bets that the canary
 * is more than δ worse; 'not-worse' that it is not. A product of per-unit factors only depends on the
 * counts, so it costs O(1) whatever the number of units.
 */
export function logWealth(cells: Cells, delta: number, fraction: number, direction: Direction): number {
  const { pi } = cells;
  // X for each cell.
  const canaryYes = (1 - delta) / pi;
  const canaryNo = -delta / pi;
  const stableYes = -1 / (1 - pi);
  if (direction === 'worse') {
    // Largest bet λ with 1 + λ·X ≥ 1 − fraction > 0 for every possible X.
    const lambda = fraction / Math.max(delta / pi, 1 / (1 - pi));
    return (
      cells.canaryYes * Math.log1p(lambda * canaryYes) + cells.canaryNo * Math.log1p(lambda * canaryNo) + cells.stableYes * Math.log1p(lambda * stableYes)
    );
  }
  const lambda = fraction / ((1 - delta) / pi);
  return (
    cells.canaryYes * Math.log1p(-lambda * canaryYes) + cells.canaryNo * Math.log1p(-lambda * canaryNo) + cells.stableYes * Math.log1p(-lambda * stableYes)
  );
}

/** log of the mixture (average over betFractions) of the wealth over a list of cell groups. */
export function logMixture(groups: readonly Cells[], delta: number, direction: Direction): number {
  const logs = betFractions.map((f) => groups.reduce((sum, g) => sum + logWealth(g, delta, f, direction), 0));
  return logMeanExp(logs);
}

/** log(mean(exp(x))) without overflow. */
export function logMeanExp(xs: readonly number[]): number {
  const max = Math.max(...xs);
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (const x of xs) sum += Math.exp(x - max);
  return max + Math.log(sum / xs.length);
}

/**
 * One-arm version, for an absolute ceiling (no comparison): the canary's units alone, null P(Y = 1) ≤ q.
 * Valid when the canary's units are a fair sample of its traffic (no randomization to lean on here).
 */
export function logWealthCeiling(yes: number, no: number, ceiling: number, fraction: number): number {
  if (ceiling <= 0) return yes > 0 ? Infinity : 0;
  const lambda = fraction / ceiling;
  return yes * Math.log1p(lambda * (1 - ceiling)) + no * Math.log1p(-lambda * ceiling);
}
