import { createRng, deriveSeed } from '@leantune/data';
import { mixRehearsal, ReservoirBuffer } from '@leantune/plugin-data-incremental';
import { point } from './helpers';

describe('ReservoirBuffer', () => {
  it('keeps the first `capacity` items, then replaces slot j = ⌊u·(t+1)⌋ when j < capacity', () => {
    const buf = new ReservoirBuffer<number>(3, 9).addAll([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // The same rule written out, with the same random stream.
    const rng = createRng(deriveSeed(9, 'reservoir:0'));
    const expected = [0, 1, 2];
    for (let t = 3; t < 10; t++) {
      const j = Math.floor(rng() * (t + 1));
      if (j < 3) expected[j] = t;
    }
    expect(buf.items()).toEqual(expected);
    expect([buf.seen, buf.size]).toEqual([10, 3]);
  });

  it('is a uniform sample: each of 20 items is kept with probability 5/20', () => {
    const kept = new Array<number>(20).fill(0);
    const trials = 4000;
    for (let seed = 0; seed < trials; seed++) for (const x of new ReservoirBuffer<number>(5, seed).addAll(Array.from({ length: 20 }, (_, i) => i)).items()) kept[x]++;
    // Binomial(4000, 0.25): sd ≈ 27 counts; 5 sd is 0.034 in frequency.
    for (const k of kept) expect(Math.abs(k / trials - 0.25)).toBeLessThan(0.034);
  });

  it('resumes deterministically from (seed, seen, items), and checks its arguments', () => {
    const a = new ReservoirBuffer<number>(2, 1).addAll([1, 2, 3, 4]);
    const resumedA = new ReservoirBuffer<number>(2, 1, a.seen, a.items()).addAll([5, 6, 7]);
    const resumedB = new ReservoirBuffer<number>(2, 1, a.seen, a.items()).addAll([5, 6, 7]);
    expect(resumedA.items()).toEqual(resumedB.items());
    expect(resumedA.seen).toBe(7);
    expect(() => new ReservoirBuffer(0, 1)).toThrow('capacity must be a positive integer (got 0)');
    expect(() => new ReservoirBuffer<number>(1, 1, 2, [1, 2])).toThrow('2 initial items exceed the capacity 1');
  });
});

describe('mixRehearsal', () => {
  it('replay is `ratio` of the result, cycling a small buffer with suffixed ids', () => {
    const fresh = Array.from({ length: 6 }, (_, i) => point(`n${i}`, i, 0));
    const mix = mixRehearsal(fresh, [point('old', 9, 9)], { ratio: 0.25, seed: 1 }); // round(6·0.25/0.75) = 2
    expect(mix.records.slice(0, 6)).toEqual(fresh);
    expect(mix.records.slice(6).map((r) => r.id)).toEqual(['old', 'old#replay-1']);
    expect(mix.records[6].meta).toEqual({ source: 'unit', row: 0, x: 9, y: 9, replay: true });
    expect([mix.replayed, mix.unique]).toEqual([2, 1]);
    expect(mixRehearsal(fresh, [], { ratio: 0, seed: 1 }).records).toHaveLength(6);
  });

  it('rejects a ratio outside [0, 1) and an empty buffer', () => {
    expect(() => mixRehearsal([], [point('o', 0, 0)], { ratio: 1, seed: 0 })).toThrow('ratio is the replayed share of the training set and must be in [0, 1) (got 1)');
    expect(() => mixRehearsal([point('n', 0, 0)], [], { ratio: 0.5, seed: 0 })).toThrow('the replay buffer is empty');
  });
});
