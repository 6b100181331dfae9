/**
 * Where a release's errors came from, by client bucket: one client with a broken integration can make up
 * most of a release's errors. The analysis never fails on that alone (a client is one unit); the verdict
 * names it so a person can tell a bad canary from a bad client.
 */
export class HeavyHitters {
  readonly #errors = new Map<number, number>();
  total = 0;

  add(bucket: number): void {
    this.total++;
    this.#errors.set(bucket, (this.#errors.get(bucket) ?? 0) + 1);
  }

  /** The bucket with the most errors and its share of them, when it is at least `minShare` of ≥ 5 errors. */
  top(minShare = 0.25): { bucket: number; share: number; errors: number } | undefined {
    if (this.total < 5) return undefined;
    let best: [number, number] | undefined;
    for (const e of this.#errors) if (!best || e[1] > best[1]) best = e;
    if (!best) return undefined;
    const share = best[1] / this.total;
    return share >= minShare ? { bucket: best[0], share, errors: best[1] } : undefined;
  }
}
