/**
 * Near-duplicate text detection: character shingles, MinHash signatures and LSH banding to
 * find candidate pairs, then the exact Jaccard similarity of the shingle sets to confirm
 * them. Confirming exactly means no false positives; LSH can only miss a pair, and the band
 * layout is chosen so that a pair at the threshold is found with probability >= 0.99.
 *
 * Written here rather than taken from npm: `minhash` (0.0.9) is unmaintained, and
 * `bloom-filters`' MinHash takes number sets and has no LSH index; this file is small and
 * tested against brute-force Jaccard (test/near-duplicates.test.ts).
 */

export interface NearDuplicateOptions {
  /** Jaccard similarity of the shingle sets at or above which two texts are near-duplicates, in (0, 1]. */
  threshold: number;
  /** Characters per shingle (default 5). */
  shingleSize?: number;
  /** MinHash functions (default 128). */
  numHashes?: number;
  /** Seed of the hash family; results depend on it only through which pairs LSH misses. */
  seed?: number;
}

/** Two texts by index into the input, with the exact Jaccard similarity of their shingles. */
export interface SimilarPair {
  a: number;
  b: number;
  similarity: number;
}

/** What matching compares: case folded, runs of whitespace made one space, trimmed. */
export function normalizeForMatching(text: string): string {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** 32-bit FNV-1a over UTF-16 code units. */
function fnv1a(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The murmur3 finalizer: a bijection on uint32 that scatters nearby inputs. */
function fmix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Sorted, distinct hashes of the k-character shingles of the normalised text. A text shorter
 * than k is one shingle; an empty text has none.
 */
export function shingleSet(text: string, k = 5): Uint32Array {
  if (!Number.isInteger(k) || k < 1) throw new Error(`shingleSize must be a positive integer (got ${k})`);
  const norm = normalizeForMatching(text);
  if (norm.length === 0) return new Uint32Array(0);
  const hashes = new Set<number>();
  if (norm.length <= k) hashes.add(fnv1a(norm, 0, norm.length));
  else for (let i = 0; i + k <= norm.length; i++) hashes.add(fnv1a(norm, i, i + k));
  return Uint32Array.from(hashes).sort();
}

/** |A ∩ B| / |A ∪ B| of two sorted distinct arrays; 0 when both are empty. */
export function jaccard(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let common = 0;
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      common++;
      i++;
      j++;
    } else if (a[i] < b[j]) i++;
    else j++;
  }
  const union = a.length + b.length - common;
  return union === 0 ? 0 : common / union;
}

/** MinHash with the family h_i(x) = fmix32(x XOR salt_i), salts drawn from the seed. */
export class MinHasher {
  private readonly salts: Uint32Array;

  constructor(
    readonly numHashes = 128,
    seed = 0,
  ) {
    if (!Number.isInteger(numHashes) || numHashes < 1) throw new Error(`numHashes must be a positive integer (got ${numHashes})`);
    this.salts = new Uint32Array(numHashes);
    let s = fmix32(seed ^ 0x9e3779b9);
    for (let i = 0; i < numHashes; i++) {
      s = fmix32(s + 0x6d2b79f5);
      this.salts[i] = s;
    }
  }

  /** Per hash function, the minimum over the set; all 0xffffffff for an empty set. */
  signature(shingles: Uint32Array): Uint32Array {
    const sig = new Uint32Array(this.numHashes).fill(0xffffffff);
    for (let j = 0; j < shingles.length; j++) {
      const x = shingles[j];
      for (let i = 0; i < this.numHashes; i++) {
        const h = fmix32(x ^ this.salts[i]);
        if (h < sig[i]) sig[i] = h;
      }
    }
    return sig;
  }
}

/** Share of equal positions: an unbiased estimate of the Jaccard similarity. */
export function estimateJaccard(a: Uint32Array, b: Uint32Array): number {
  if (a.length !== b.length) throw new Error(`MinHash signatures differ in length (${a.length} vs ${b.length})`);
  let same = 0;
  for (let i = 0; i < a.length; i++) if (a[i] === b[i]) same++;
  return same / a.length;
}

/**
 * Bands × rows = numHashes. A pair of similarity s becomes a candidate with probability
 * 1 - (1 - s^rows)^bands; this picks the most rows (fewest spurious candidates) for which a
 * pair exactly at the threshold is still found with probability >= 0.99.
 */
export function lshParameters(numHashes: number, threshold: number): { bands: number; rows: number; recallAtThreshold: number } {
  checkThreshold(threshold);
  let best = { bands: numHashes, rows: 1, recallAtThreshold: 1 - (1 - threshold) ** numHashes };
  for (let rows = 2; rows <= numHashes; rows++) {
    if (numHashes % rows !== 0) continue;
    const bands = numHashes / rows;
    const recall = 1 - (1 - threshold ** rows) ** bands;
    if (recall >= 0.99) best = { bands, rows, recallAtThreshold: recall };
  }
  return best;
}

function checkThreshold(threshold: number): void {
  if (!(threshold > 0 && threshold <= 1)) throw new Error(`Near-duplicate threshold must be in (0, 1] (got ${threshold})`);
}

/**
 * Pairs of texts whose shingle sets have Jaccard similarity >= threshold, a < b, sorted by
 * (a, b). `accept(a, b)` filters candidates before the exact check (e.g. only pairs across
 * two splits). Empty texts pair with nothing.
 */
export function findSimilarPairs(texts: readonly string[], options: NearDuplicateOptions, accept?: (a: number, b: number) => boolean): SimilarPair[] {
  checkThreshold(options.threshold);
  const hasher = new MinHasher(options.numHashes ?? 128, options.seed ?? 0);
  const { bands, rows } = lshParameters(hasher.numHashes, options.threshold);
  const sets = texts.map((t) => shingleSet(t, options.shingleSize ?? 5));
  const buckets = Array.from({ length: bands }, () => new Map<number, number[]>());
  const seen = new Set<number>();
  const pairs: SimilarPair[] = [];
  sets.forEach((set, index) => {
    if (set.length === 0) return;
    const sig = hasher.signature(set);
    for (let band = 0; band < bands; band++) {
      let h = 0x811c9dc5;
      for (let r = band * rows; r < (band + 1) * rows; r++) h = fmix32(h ^ sig[r]);
      const bucket = buckets[band].get(h);
      if (!bucket) {
        buckets[band].set(h, [index]);
        continue;
      }
      for (const other of bucket) {
        // index * n + other identifies the pair; n² stays far below 2^53 for any real corpus.
        const key = other * texts.length + index;
        if (seen.has(key)) continue;
        seen.add(key);
        if (accept && !accept(other, index)) continue;
        const similarity = jaccard(sets[other], set);
        if (similarity >= options.threshold) pairs.push({ a: other, b: index, similarity });
      }
      bucket.push(index);
    }
  });
  return pairs.sort((p, q) => p.a - q.a || p.b - q.b);
}

/** Connected components (size >= 2) of the pair graph, each sorted, ordered by first member. */
export function groupPairs(n: number, pairs: readonly SimilarPair[]): number[][] {
  const parent = Array.from({ length: n }, (_, i) => i);
  const find = (x: number): number => {
    while (parent[x] !== x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  for (const { a, b } of pairs) {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const root = find(i);
    const g = groups.get(root);
    if (g) g.push(i);
    else groups.set(root, [i]);
  }
  return [...groups.values()].filter((g) => g.length > 1).sort((x, y) => x[0] - y[0]);
}
