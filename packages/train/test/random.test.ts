import { deriveSeed, epochBatches, epochPermutation, Rng, stepsPerEpoch } from '@leantune/train';

describe('Rng (mulberry32)', () => {
  it('gives the same stream for the same seed and another for another seed', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const c = new Rng(43);
    const sa = Array.from({ length: 5 }, () => a.nextUint32());
    expect(Array.from({ length: 5 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 5 }, () => c.nextUint32())).not.toEqual(sa);
  });

  it('matches the reference mulberry32 (bryc) implementation', () => {
    // The widely copied reference, written independently of Rng's class form.
    function mulberry32(a: number): () => number {
      return () => {
        let t = (a += 0x6d2b79f5);
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }
    const ref = mulberry32(12345);
    const r = new Rng(12345);
    for (let i = 0; i < 10; i++) expect(r.next()).toBe(ref());
  });

  it('continues exactly from a saved state', () => {
    const a = new Rng(5);
    a.next();
    a.next();
    const saved = a.state;
    const expected = [a.next(), a.next(), a.next()];
    const b = new Rng(0);
    b.state = saved;
    expect([b.next(), b.next(), b.next()]).toEqual(expected);
  });

  it('is roughly uniform on [0, 1)', () => {
    const r = new Rng(1);
    const xs = Array.from({ length: 20000 }, () => r.next());
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01);
    const lowQuarter = xs.filter((x) => x < 0.25).length / xs.length;
    expect(Math.abs(lowQuarter - 0.25)).toBeLessThan(0.015);
  });

  it('rejects a non-integer seed', () => {
    expect(() => new Rng(1.5)).toThrow(/seed must be an integer/);
  });
});

describe('data order', () => {
  it('is a permutation fixed by (seed, epoch)', () => {
    const p = epochPermutation(50, 3, 0);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(epochPermutation(50, 3, 0)).toEqual(p);
    expect(epochPermutation(50, 3, 1)).not.toEqual(p);
    expect(epochPermutation(50, 4, 0)).not.toEqual(p);
  });

  it('derives unrelated seeds from neighbouring keys', () => {
    const seeds = new Set([0, 1, 2, 3].map((k) => deriveSeed(9, k)));
    expect(seeds.size).toBe(4);
    expect(deriveSeed(9, 2, 1)).toBe(deriveSeed(9, 2, 1));
    expect(deriveSeed(9, 2, 1)).not.toBe(deriveSeed(9, 1, 2));
  });

  it('splits an epoch into batches, keeping or dropping the short last one', () => {
    const kept = epochBatches(10, 0, { batchSize: 4, seed: 0, shuffle: false });
    expect(kept).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
    expect(epochBatches(10, 0, { batchSize: 4, seed: 0, shuffle: false, dropLast: true })).toHaveLength(2);
    expect(stepsPerEpoch(10, 4, 2)).toBe(2);
    expect(stepsPerEpoch(10, 2, 2)).toBe(3);
    expect(stepsPerEpoch(10, 4, 1, true)).toBe(2);
  });
});
