// Fixed log-spaced latency buckets shared by every sample, so recording is one
// Math.log and an increment, and two releases' histograms line up edge for edge.
//
// Bucket 0 is [0, minMs], bucket i (1..K) is (minMs·r^(i−1), minMs·r^i], and
// bucket K+1 is everything above the last edge (including NaN / Infinity).
// Intervals are closed on the right so "count of latencies > edge" is exact,
// which the quantile bounds rely on.

export interface BucketLayout {
  readonly minMs: number;
  readonly ratio: number;
  /** Upper edge of each bucket; the last (overflow) bucket's edge is Infinity. */
  readonly edges: Float64Array;
  readonly size: number;
  /** 1 / ln(ratio), precomputed: recording is on the proxy's hot path. */
  readonly invLogRatio: number;
}

export function makeLayout(minMs: number, maxMs: number, ratio: number): BucketLayout {
  if (!(minMs > 0 && maxMs > minMs && ratio > 1)) throw new RangeError('need 0 < minMs < maxMs and ratio > 1');
  const k = Math.ceil(Math.log(maxMs / minMs) / Math.log(ratio));
  const edges = new Float64Array(k + 2);
  // Math.pow per edge (not repeated multiplication) so edges don't drift.
  for (let i = 0; i <= k; i++) edges[i] = minMs * Math.pow(ratio, i);
  edges[k + 1] = Infinity;
  return { minMs, ratio, edges, size: k + 2, invLogRatio: 1 / Math.log(ratio) };
}

/** 0.1 ms … ~62 s in 10% steps: 142 buckets, quantiles good to ±5%. */
export const defaultLayout: BucketLayout = makeLayout(0.1, 60_000, 1.1);

export function bucketIndex(layout: BucketLayout, latencyMs: number): number {
  const { edges, size } = layout;
  const last = size - 1;
  if (!(latencyMs <= edges[last - 1]!)) return last; // above range, NaN, Infinity
  if (latencyMs <= edges[0]!) return 0;
  let i = Math.ceil(Math.log(latencyMs / layout.minMs) * layout.invLogRatio);
  if (i < 1) i = 1;
  if (i > last - 1) i = last - 1;
  // Floating-point log can land one bucket off right at an edge; fix it exactly.
  while (i > 1 && latencyMs <= edges[i - 1]!) i--;
  while (latencyMs > edges[i]!) i++;
  return i;
}
