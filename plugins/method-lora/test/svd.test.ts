import { svd, svdLowRank, matmul } from '../src/svd';

/** Seeded uniform(-1, 1) values. */
function rand(n: number, seed: number): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  });
}

/** A random orthogonal n×n matrix as a product of Householder reflections (independent of svd.ts). */
function orthogonal(n: number, seed: number): number[][] {
  let q: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let h = 0; h < n; h++) {
    const v = Array.from(rand(n, seed + h * 7919));
    const norm = Math.hypot(...v);
    const u = v.map((x) => x / norm);
    q = q.map((row) => {
      const dot = row.reduce((acc, x, k) => acc + x * u[k], 0);
      return row.map((x, k) => x - 2 * dot * u[k]);
    });
  }
  return q;
}

function reconstruct(d: ReturnType<typeof svd>): Float64Array {
  const us = new Float64Array(d.m * d.k);
  for (let i = 0; i < d.m; i++) for (let j = 0; j < d.k; j++) us[i * d.k + j] = d.u[i * d.k + j] * d.s[j];
  return matmul(us, d.vt, d.m, d.k, d.n);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** max |QᵀQ − I| over the columns of an m×k matrix. */
function orthoError(q: Float64Array, m: number, k: number): number {
  let err = 0;
  for (let a = 0; a < k; a++) {
    for (let b = 0; b < k; b++) {
      let dot = 0;
      for (let i = 0; i < m; i++) dot += q[i * k + a] * q[i * k + b];
      err = Math.max(err, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return err;
}

describe('svd (one-sided Jacobi)', () => {
  it.each([
    [7, 4],
    [4, 7],
    [12, 12],
    [30, 9],
  ])('reconstructs a random %i×%i matrix with orthonormal factors and descending values', (m, n) => {
    const a = rand(m * n, m * 100 + n);
    const d = svd(a, m, n);
    expect(d.k).toBe(Math.min(m, n));
    expect(maxDiff(reconstruct(d), a)).toBeLessThan(1e-12);
    expect(orthoError(d.u, m, d.k)).toBeLessThan(1e-12);
    const v = new Float64Array(d.n * d.k);
    for (let i = 0; i < d.k; i++) for (let j = 0; j < d.n; j++) v[j * d.k + i] = d.vt[i * d.n + j];
    expect(orthoError(v, d.n, d.k)).toBeLessThan(1e-12);
    for (let i = 1; i < d.k; i++) expect(d.s[i]).toBeLessThanOrEqual(d.s[i - 1]);
  });

  it('recovers the singular values of U·diag(s)·Vᵀ built from known orthogonal factors', () => {
    const s = [9, 5, 2.5, 1, 0.01];
    const u = orthogonal(6, 3).map((row) => row.slice(0, 5));
    const v = orthogonal(5, 11);
    const a = u.map((row) => v.map((vrow) => row.reduce((acc, x, k) => acc + x * s[k] * vrow[k], 0)));
    const d = svd(a.flat(), 6, 5);
    expect(Array.from(d.s)).toEqual(s.map((x) => expect.closeTo(x, 10)));
  });

  it('gives orthonormal U even for a rank-deficient matrix (zero singular values)', () => {
    const col = Array.from(rand(5, 1));
    const row = Array.from(rand(4, 2));
    const rank1 = col.flatMap((c) => row.map((r) => c * r));
    const d = svd(rank1, 5, 4);
    expect(d.s[0]).toBeCloseTo(Math.hypot(...col) * Math.hypot(...row), 10);
    expect(Array.from(d.s.slice(1)).every((x) => x < 1e-12)).toBe(true);
    expect(orthoError(d.u, 5, 4)).toBeLessThan(1e-10);
    expect(maxDiff(reconstruct(d), rank1)).toBeLessThan(1e-12);
  });

  it('matches a closed-form 2×2 decomposition', () => {
    // [[3, 0], [4, 5]]: singular values √45 and √5.
    const d = svd([3, 0, 4, 5], 2, 2);
    expect(d.s[0]).toBeCloseTo(Math.sqrt(45), 12);
    expect(d.s[1]).toBeCloseTo(Math.sqrt(5), 12);
  });
});

describe('svdLowRank (randomized subspace iteration)', () => {
  it('finds the top singular values of a matrix with a clear spectral gap', () => {
    const s = [10, 6, 3, 0.1, 0.05, 0.01];
    const u = orthogonal(40, 5).map((row) => row.slice(0, 6));
    const v = orthogonal(6, 9);
    const a = u.map((row) => v.map((vrow) => row.reduce((acc, x, k) => acc + x * s[k] * vrow[k], 0))).flat();
    const low = svdLowRank(a, 40, 6, 3, 4, 1);
    expect(Array.from(low.s)).toEqual([10, 6, 3].map((x) => expect.closeTo(x, 8)));
    const exact = svd(a, 40, 6);
    // Same subspace: |⟨u_low, u_exact⟩| = 1 for each leading vector.
    for (let j = 0; j < 3; j++) {
      let dot = 0;
      for (let i = 0; i < 40; i++) dot += low.u[i * 3 + j] * exact.u[i * exact.k + j];
      expect(Math.abs(dot)).toBeCloseTo(1, 8);
    }
  });

  it('rejects a rank outside [1, min(m, n)]', () => {
    expect(() => svdLowRank(rand(12, 1), 3, 4, 4, 2)).toThrow(/rank must be in \[1, 3\]/);
  });
});
