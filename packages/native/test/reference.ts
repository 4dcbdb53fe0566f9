/** Deterministic values in [-1, 1) from a small LCG, independent of any backend. */
export function seededValues(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let state = (seed * 2654435761) >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state / 2 ** 31 - 1;
  }
  return out;
}

/** op(A)·op(B) of one pair, in float64, straight from the definition. */
export function naiveMatMul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, transposeA: boolean, transposeB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += (transposeA ? a[p * m + i] : a[i * k + p]) * (transposeB ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = sum;
    }
  }
  return c;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
