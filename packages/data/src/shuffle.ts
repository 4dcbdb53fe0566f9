/**
 * Seeded randomness for data handling. Everything here is a pure function of its seed,
 * independent of Math.random and of tfjs's global seed, so a split is reproducible from
 * the config alone.
 */

/** mulberry32: a small, well-tested 32-bit generator; returns floats in [0, 1). */
export function createRng(seed: number): () => number {
  if (!Number.isFinite(seed)) throw new Error(`Seed must be a finite number (got ${seed})`);
  let state = Math.trunc(seed) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed for one purpose derived from a base seed (FNV-1a over the salt), so streams don't overlap. */
export function deriveSeed(seed: number, salt: string): number {
  let h = (0x811c9dc5 ^ (Math.trunc(seed) >>> 0)) >>> 0;
  for (let i = 0; i < salt.length; i++) {
    h ^= salt.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

/** A new array in Fisher–Yates order for this seed; the input is not touched. */
export function shuffle<T>(items: readonly T[], seed: number): T[] {
  const out = items.slice();
  const rng = createRng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const tmp = out[i];
    out[i] = out[j];
    out[j] = tmp;
  }
  return out;
}

/** A seeded permutation of 0..n-1. */
export function permutation(n: number, seed: number): number[] {
  return shuffle(
    Array.from({ length: n }, (_, i) => i),
    seed,
  );
}
