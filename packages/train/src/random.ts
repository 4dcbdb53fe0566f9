/**
 * Small seeded PRNGs for data order and per-step seeds. Everything here is plain 32-bit
 * integer math, so a state is one number that a checkpoint can store and restore exactly.
 */

function checkSeed(seed: number, where: string): number {
  if (!Number.isInteger(seed)) throw new Error(`${where}: seed must be an integer, got ${seed}`);
  return seed >>> 0;
}

/** A 32-bit avalanche hash (the splitmix32/murmur3 finalizer): nearby inputs → unrelated outputs. */
export function hash32(x: number): number {
  let z = (x + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

/**
 * A seed derived from a base seed and keys such as (epoch) or (step, microBatch). Being a
 * pure function of its inputs, a resumed run re-derives exactly the seeds it would have used.
 */
export function deriveSeed(seed: number, ...keys: number[]): number {
  let h = hash32(checkSeed(seed, 'deriveSeed'));
  for (const k of keys) h = hash32((h ^ hash32(checkSeed(k, 'deriveSeed key'))) >>> 0);
  return h;
}

/** mulberry32: tiny, fast, full 2^32 period; the state is a single uint32. */
export class Rng {
  private s: number;

  constructor(seed: number) {
    this.s = checkSeed(seed, 'Rng');
  }

  /** The current state; `new Rng(0).state = saved` continues the exact same stream. */
  get state(): number {
    return this.s;
  }

  set state(value: number) {
    this.s = checkSeed(value, 'Rng.state');
  }

  nextUint32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.nextInt: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** A non-negative 31-bit seed for tfjs random ops (tf.randomUniform, tf.dropout …). */
  nextSeed(): number {
    return this.nextUint32() & 0x7fffffff;
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}

/** The data order of one epoch: a permutation of 0..n-1 fixed by (seed, epoch). */
export function epochPermutation(n: number, seed: number, epoch: number): number[] {
  if (!Number.isInteger(n) || n < 0) throw new Error(`epochPermutation: n must be a non-negative integer, got ${n}`);
  const order = Array.from({ length: n }, (_, i) => i);
  return new Rng(deriveSeed(seed, epoch)).shuffle(order);
}
