import type { DataRecord } from '@leantune/core';
import { createRng, deriveSeed, holdoutSplit, kFold, labelCounts, permutation, shuffle } from '@leantune/data';

function dataset(counts: Record<string, number>): DataRecord[] {
  const out: DataRecord[] = [];
  for (const [label, n] of Object.entries(counts)) {
    for (let i = 0; i < n; i++) out.push({ id: `${label}-${i}`, label, meta: { source: 't', row: out.length } });
  }
  return out;
}
const ids = (rs: DataRecord[]) => rs.map((r) => r.id);

describe('seeded shuffle', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);

  it('is a pure function of the seed and leaves the input alone', () => {
    const a = shuffle(items, 7);
    expect(shuffle(items, 7)).toEqual(a);
    expect(shuffle(items, 8)).not.toEqual(a);
    expect(items).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect([...a].sort((x, y) => x - y)).toEqual(items);
  });

  it('matches a hand-run Fisher–Yates on the same generator', () => {
    // Reference: mulberry32 written out again here, independently of createRng.
    let s = 123 >>> 0;
    const ref = () => {
      s = (s + 0x6d2b79f5) >>> 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const expected = ['a', 'b', 'c', 'd', 'e'];
    for (let i = expected.length - 1; i > 0; i--) {
      const j = Math.floor(ref() * (i + 1));
      [expected[i], expected[j]] = [expected[j], expected[i]];
    }
    expect(shuffle(['a', 'b', 'c', 'd', 'e'], 123)).toEqual(expected);
  });

  it('spreads positions roughly uniformly (each of 5 items first ~1/5 of the time)', () => {
    const firsts = [0, 0, 0, 0, 0];
    for (let seed = 0; seed < 5000; seed++) firsts[permutation(5, seed)[0]]++;
    for (const n of firsts) expect(Math.abs(n - 1000)).toBeLessThan(120);
  });

  it('derives distinct seeds per purpose and rejects non-finite seeds', () => {
    expect(deriveSeed(1, 'a')).not.toBe(deriveSeed(1, 'b'));
    expect(deriveSeed(1, 'a')).toBe(deriveSeed(1, 'a'));
    expect(() => createRng(NaN)).toThrow(/Seed must be a finite number/);
  });
});

describe('holdoutSplit', () => {
  const records = dataset({ a: 60, b: 30, c: 10 });

  it('keeps each label share in every split when stratified', () => {
    const s = holdoutSplit(records, { validation: 0.2, test: 0.1, seed: 3 });
    expect(labelCounts(s.validation)).toEqual({ a: 12, b: 6, c: 2 });
    expect(labelCounts(s.test)).toEqual({ a: 6, b: 3, c: 1 });
    expect(labelCounts(s.train)).toEqual({ a: 42, b: 21, c: 7 });
  });

  it('partitions the records (no overlap, nothing lost) and is deterministic in the seed', () => {
    const s = holdoutSplit(records, { validation: 0.25, test: 0.15, seed: 11 });
    const all = [...ids(s.train), ...ids(s.validation), ...ids(s.test)];
    expect(new Set(all).size).toBe(100);
    expect(all.sort()).toEqual(ids(records).sort());
    expect(holdoutSplit(records, { validation: 0.25, test: 0.15, seed: 11 })).toEqual(s);
    expect(ids(holdoutSplit(records, { validation: 0.25, test: 0.15, seed: 12 }).validation)).not.toEqual(ids(s.validation));
    // Independent of input order: the split is a function of the record set and seed.
    expect(holdoutSplit([...records].reverse(), { validation: 0.25, test: 0.15, seed: 11 })).toEqual(s);
  });

  it('hits round(N·fraction) in total when class shares are fractional', () => {
    const odd = dataset({ a: 7, b: 5, c: 3 });
    const s = holdoutSplit(odd, { validation: 0.3, seed: 1 });
    expect(s.validation).toHaveLength(Math.round(15 * 0.3));
    // Each class gets floor or ceil of its exact share (2.1, 1.5, 0.9).
    const v = labelCounts(s.validation);
    expect(v.a).toBe(2);
    expect([1, 2]).toContain(v.b);
    expect([0, 1]).toContain(v.c ?? 0);
  });

  it('without stratification takes exactly the requested sizes', () => {
    const s = holdoutSplit(records, { validation: 0.2, seed: 5, stratify: false });
    expect(s.validation).toHaveLength(20);
    expect(s.train).toHaveLength(80);
    expect(s.test).toHaveLength(0);
  });

  it('rejects fractions that leave no training data', () => {
    expect(() => holdoutSplit(records, { validation: 0.6, test: 0.4, seed: 1 })).toThrow(/must be below 1/);
    expect(() => holdoutSplit(records, { validation: -0.1, seed: 1 })).toThrow(/"validation" must be in \[0, 1\)/);
  });
});

describe('kFold', () => {
  const records = dataset({ a: 23, b: 11, c: 6 });

  it('puts every record in exactly one validation fold, with train the complement', () => {
    const folds = kFold(records, 5, { seed: 9 });
    const seen = new Map<string, number>();
    for (const f of folds) {
      for (const r of f.validation) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
      const val = new Set(ids(f.validation));
      expect(ids(f.train).some((id) => val.has(id))).toBe(false);
      expect(f.train.length + f.validation.length).toBe(40);
    }
    expect(seen.size).toBe(40);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('balances fold sizes (±1) and spreads each label across folds (±1)', () => {
    const folds = kFold(records, 4, { seed: 2 });
    expect(folds.map((f) => f.validation.length)).toEqual([10, 10, 10, 10]);
    for (const label of ['a', 'b', 'c']) {
      const perFold = folds.map((f) => f.validation.filter((r) => r.label === label).length);
      expect(Math.max(...perFold) - Math.min(...perFold)).toBeLessThanOrEqual(1);
    }
  });

  it('is deterministic in the seed', () => {
    expect(kFold(records, 3, { seed: 4 })).toEqual(kFold(records, 3, { seed: 4 }));
    expect(ids(kFold(records, 3, { seed: 4 })[0].validation)).not.toEqual(ids(kFold(records, 3, { seed: 5 })[0].validation));
  });

  it('rejects bad k', () => {
    expect(() => kFold(records, 1, { seed: 0 })).toThrow(/integer k >= 2/);
    expect(() => kFold(records.slice(0, 2), 3, { seed: 0 })).toThrow(/needs at least 3 records/);
  });
});
