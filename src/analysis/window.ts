// What the proxy feeds per release: request and error counts plus a latency
// histogram. O(1) per request, fixed memory, no timestamps: the window is
// simply "everything since the sample was created or reset".

import { bucketIndex, defaultLayout, type BucketLayout } from './histogram.ts';

export class ReleaseSample {
  readonly layout: BucketLayout;
  #requests = 0;
  #errors = 0;
  // Float64 rather than Uint32 so a long window can't wrap around.
  readonly #counts: Float64Array;

  constructor(layout: BucketLayout = defaultLayout) {
    this.layout = layout;
    this.#counts = new Float64Array(layout.size);
  }

  /**
   * One proxied request. `ok` is false for a 5xx or a connection error. The
   * latency of failed requests is recorded too: it is what the user waited,
   * and it lets the latency test catch hangs that end in timeouts.
   */
  record(ok: boolean, latencyMs: number): void {
    this.recordBucket(ok, bucketIndex(this.layout, latencyMs));
  }

  /** record() with the bucket already computed (from bucketIndex with this sample's layout). */
  recordBucket(ok: boolean, bucket: number): void {
    this.#requests++;
    if (!ok) this.#errors++;
    this.#counts[bucket]!++;
  }

  get requests(): number {
    return this.#requests;
  }

  get errors(): number {
    return this.#errors;
  }

  /** Observed error share, or undefined without requests. */
  errorRate(): number | undefined {
    return this.#requests > 0 ? this.#errors / this.#requests : undefined;
  }

  /** Per-bucket counts (read-only view; bucket i holds latencies ≤ layout.edges[i]). */
  get buckets(): Readonly<Float64Array> {
    return this.#counts;
  }

  /**
   * Fills `out[i]` with the number of latencies strictly above `layout.edges[i]`
   * (an exact count, because buckets are closed on the right). O(buckets).
   */
  countsAbove(out: Float64Array = new Float64Array(this.layout.size)): Float64Array {
    let above = 0;
    for (let i = this.layout.size - 1; i >= 0; i--) {
      out[i] = above;
      above += this.#counts[i]!;
    }
    return out;
  }

  /**
   * Sample q-quantile (the smallest recorded value with at least ⌈q·n⌉ values
   * at or below it), reported as the geometric middle of its bucket, so within
   * a factor √ratio (±5% with the default layout) of the exact value. The
   * lowest and overflow buckets report their finite edge.
   */
  quantile(q: number): number | undefined {
    if (this.#requests === 0 || !(q >= 0 && q <= 1)) return undefined;
    const rank = Math.max(1, Math.ceil(q * this.#requests));
    const { edges, size } = this.layout;
    let seen = 0;
    for (let i = 0; i < size; i++) {
      seen += this.#counts[i]!;
      if (seen >= rank) {
        if (i === 0) return edges[0]!;
        if (i === size - 1) return edges[size - 2]!;
        return Math.sqrt(edges[i - 1]! * edges[i]!);
      }
    }
    return edges[size - 2]!; // unreachable: counts sum to requests
  }

  reset(): void {
    this.#requests = 0;
    this.#errors = 0;
    this.#counts.fill(0);
  }
}
