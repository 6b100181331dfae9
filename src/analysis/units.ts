// What counts as one analysis unit, and with what probability it went to the canary.
//
// zdd routes by bucket (0..9999): during a split, buckets below weight × 10000 go to the canary. A client
// that keeps its zdd-bucket cookie stays in its bucket, so its requests are not independent draws — one
// client is one unit. A request without a (valid) cookie got a bucket by a fresh coin flip: it is a unit
// of its own. Per weight step, a bucket counts once: at its first request in the step, with the chance,
// given what was seen before, that its bucket is a canary bucket at this weight.

/** Buckets zdd routes by (proxy/route-table.ts); the canary owns the lowest ones. */
export const bucketCount = 10_000;

/** How a request was routed, as the proxy knows it. */
export interface Routing {
  bucket: number;
  /** The bucket was drawn for this request (no cookie, or one zdd did not sign). */
  fresh: boolean;
}

/** Share of buckets the canary owns at a weight (a fraction): the proxy's own rounding. */
export function canaryShare(weight: number): number {
  return Math.min(bucketCount, Math.ceil(weight * bucketCount - 1e-9)) / bucketCount;
}

interface Seen {
  step: number;
  canary: boolean;
  /** The canary's share when it was seen. */
  share: number;
}

export class UnitTracker {
  readonly #seen = new Map<number, Seen>();
  #step = 0;
  #share = 0;

  /** A new weight step: every bucket may count once more. */
  startStep(weight: number): void {
    this.#step++;
    this.#share = canaryShare(weight);
  }

  get step(): number {
    return this.#step;
  }

  /**
   * The chance this request's unit went to the canary, given everything seen before; undefined when it
   * is not a new unit (its bucket already counted in this step) or its side was certain.
   */
  propensity(r: Routing, canary: boolean): number | undefined {
    const share = this.#share;
    const before = this.#seen.get(r.bucket);
    this.#seen.set(r.bucket, { step: this.#step, canary, share });
    if (r.fresh) return share > 0 && share < 1 ? share : undefined;
    if (before === undefined) return share > 0 && share < 1 ? share : undefined;
    if (before.step === this.#step) return undefined;
    // Seen on the canary earlier: weights only rise, so it is on the canary still — no news.
    if (before.canary) return undefined;
    // Seen on stable at a smaller share: among those buckets, the newly moved ones are the canary's.
    const pi = (share - before.share) / (1 - before.share);
    return pi > 0 && pi < 1 ? pi : undefined;
  }
}
