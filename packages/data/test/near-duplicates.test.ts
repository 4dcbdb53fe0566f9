import type { DataRecord } from '@leantune/core';
import {
  MinHasher,
  contentKey,
  estimateJaccard,
  findSimilarPairs,
  groupPairs,
  jaccard,
  lshParameters,
  shingleSet,
} from '@leantune/data';

/** Brute-force reference: shingles as strings (no hashing), Jaccard over every pair. */
function referenceShingles(text: string, k: number): Set<string> {
  const norm = text.toLowerCase().replace(/\s+/g, ' ').trim();
  const out = new Set<string>();
  if (norm.length === 0) return out;
  if (norm.length <= k) out.add(norm);
  for (let i = 0; i + k <= norm.length; i++) out.add(norm.slice(i, i + k));
  return out;
}
function referenceJaccard(x: string, y: string, k: number): number {
  const a = referenceShingles(x, k);
  const b = referenceShingles(y, k);
  const common = [...a].filter((s) => b.has(s)).length;
  return common / (a.size + b.size - common);
}

/** Seeded word soup, so the corpus is the same on every run. */
function corpus(n: number): string[] {
  const words = 'alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau upsilon'.split(' ');
  let s = 17;
  const next = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648);
  const base = Array.from({ length: n }, () => Array.from({ length: 30 }, () => words[Math.floor(next() * words.length)]).join(' '));
  // Every 5th text is a light edit of the one before it: one word replaced.
  return base.map((t, i) => (i % 5 === 4 ? base[i - 1].replace(/\b\w+$/, 'omega') : t));
}

describe('shingles and Jaccard', () => {
  it('hashes the same shingles a string reference finds', () => {
    const text = 'The  quick brown\tfox';
    expect(shingleSet(text, 4).length).toBe(referenceShingles(text, 4).size);
    expect(shingleSet('abc', 5).length).toBe(1);
    expect(shingleSet('   ', 5).length).toBe(0);
    expect(() => shingleSet('x', 0)).toThrow(/shingleSize must be a positive integer/);
  });

  it('computes exact Jaccard equal to the string reference', () => {
    const texts = corpus(10);
    for (let i = 0; i < 9; i++) {
      expect(jaccard(shingleSet(texts[i]), shingleSet(texts[i + 1]))).toBeCloseTo(referenceJaccard(texts[i], texts[i + 1], 5), 10);
    }
    expect(jaccard(new Uint32Array(0), new Uint32Array(0))).toBe(0);
  });

  it('MinHash estimates Jaccard within sampling error', () => {
    const hasher = new MinHasher(256, 3);
    const [a, b] = ['the cat sat on the mat by the door today', 'the cat sat on the mat by the window today'];
    const exact = referenceJaccard(a, b, 5);
    const est = estimateJaccard(hasher.signature(shingleSet(a)), hasher.signature(shingleSet(b)));
    // Standard error sqrt(J(1-J)/256) < 0.032; 3 of them.
    expect(Math.abs(est - exact)).toBeLessThan(0.1);
  });
});

describe('LSH', () => {
  it('picks bands so a pair at the threshold is found with probability >= 0.99', () => {
    expect(lshParameters(128, 0.8)).toEqual({ bands: 32, rows: 4, recallAtThreshold: 1 - (1 - 0.8 ** 4) ** 32 });
    expect(lshParameters(128, 0.5).rows).toBe(2);
    expect(() => lshParameters(128, 0)).toThrow(/threshold must be in \(0, 1\]/);
  });

  it('finds exactly the brute-force pairs at or above the threshold', () => {
    const texts = corpus(60);
    const expected: Array<[number, number]> = [];
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) if (referenceJaccard(texts[i], texts[j], 5) >= 0.7) expected.push([i, j]);
    expect(expected.length).toBe(12);
    const found = findSimilarPairs(texts, { threshold: 0.7, seed: 1 });
    expect(found.map((p) => [p.a, p.b])).toEqual(expected);
    for (const p of found) expect(p.similarity).toBeCloseTo(referenceJaccard(texts[p.a], texts[p.b], 5), 10);
  });

  it('filters candidates with accept and groups pairs into clusters', () => {
    const texts = ['same text here', 'same text here', 'other words entirely', 'same text here!'];
    const all = findSimilarPairs(texts, { threshold: 0.7 });
    expect(all.map((p) => [p.a, p.b])).toEqual([
      [0, 1],
      [0, 3],
      [1, 3],
    ]);
    expect(findSimilarPairs(texts, { threshold: 0.7 }, (a, b) => a === 0 && b === 3).map((p) => [p.a, p.b])).toEqual([[0, 3]]);
    expect(groupPairs(4, all)).toEqual([[0, 1, 3]]);
  });
});

describe('contentKey', () => {
  const rec = (fields: Partial<DataRecord>): DataRecord => ({ id: 'x', meta: { source: 's', row: 0 }, ...fields });
  it('equals for the same text up to whitespace, differs by case, and hashes image pixels', () => {
    expect(contentKey(rec({ text: 'a  b\n' }))).toBe(contentKey(rec({ text: 'a b' })));
    expect(contentKey(rec({ text: 'A b' }))).not.toBe(contentKey(rec({ text: 'a b' })));
    const img = (v: number) => rec({ image: { data: new Uint8Array([1, 2, v, 4]), shape: [2, 2, 1] } });
    expect(contentKey(img(3))).toBe(contentKey(img(3)));
    expect(contentKey(img(9))).not.toBe(contentKey(img(3)));
    expect(contentKey(rec({}))).toBeUndefined();
  });
});
