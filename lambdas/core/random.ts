/** Seeded randomness for tests, benchmarks and local replays. */

/**
 * Mulberry32: a tiny seeded PRNG returning numbers in [0, 1). For tests, benchmarks and local replays that need a
 * reproducible stream of draws; not for anything security-related.
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}
