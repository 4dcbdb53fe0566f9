import type { SparseVector } from './features';

/**
 * Class probabilities from the k nearest references by cosine similarity (vectors are unit
 * length, so the dot product). Votes are weighted by similarity (negative clipped to 0).
 * An inverted index makes each query cost the postings of its own features only.
 */
export function knnProbabilities(queries: readonly SparseVector[], refs: readonly SparseVector[], refLabels: readonly number[], numClasses: number, k: number): Float64Array[] {
  if (refs.length === 0) throw new Error('kNN needs at least one labelled reference record');
  const postings = new Map<number, Array<[number, number]>>();
  refs.forEach((v, r) => {
    for (let j = 0; j < v.idx.length; j++) {
      let list = postings.get(v.idx[j]);
      if (!list) postings.set(v.idx[j], (list = []));
      list.push([r, v.val[j]]);
    }
  });
  const kk = Math.min(k, refs.length);
  const scores = new Float64Array(refs.length);
  return queries.map((q) => {
    scores.fill(0);
    for (let j = 0; j < q.idx.length; j++) for (const [r, v] of postings.get(q.idx[j]) ?? []) scores[r] += q.val[j] * v;
    // Top k by score, ties to the lower reference index (a stable, seed-free order).
    const top: number[] = [];
    for (let r = 0; r < refs.length; r++) {
      if (top.length < kk) {
        top.push(r);
        top.sort((a, b) => scores[b] - scores[a] || a - b);
      } else if (scores[r] > scores[top[kk - 1]]) {
        top[kk - 1] = r;
        top.sort((a, b) => scores[b] - scores[a] || a - b);
      }
    }
    // A tiny additive floor keeps every probability above 0 and makes a query that shares
    // nothing with its neighbours (all similarities 0) uniform, i.e. never confident.
    const p = new Float64Array(numClasses).fill(1e-9);
    for (const r of top) p[refLabels[r]] += Math.max(scores[r], 0);
    const sum = p.reduce((a, b) => a + b, 0);
    for (let c = 0; c < numClasses; c++) p[c] /= sum;
    return p;
  });
}
