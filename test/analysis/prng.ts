// Seeded randomness for deterministic statistical tests (not a test file).

/** mulberry32: tiny 32-bit PRNG, plenty for simulation streams. */
export function mulberry32(seed: number): () => number {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Log-normal latency sampler: median ms and log-sd sigma (Box–Muller). */
export function logNormal(rand: () => number, medianMs: number, sigma: number): () => number {
  return () => {
    const u = 1 - rand(); // (0, 1]: keeps log finite
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
    return medianMs * Math.exp(sigma * z);
  };
}
