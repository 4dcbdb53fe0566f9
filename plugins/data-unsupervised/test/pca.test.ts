import { fitPca, jacobiEigen, matrix, pcaTransform, topEigen } from '@leantune/plugin-data-unsupervised';

const S2 = Math.SQRT1_2;

function randomSymmetric(n: number, seed: number): Float64Array {
  // A = Q·diag(λ)·Qᵀ with a known, well-separated spectrum n, n−1, …, 1 (times 3).
  let s = seed;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const q = Array.from({ length: n }, () => Array.from({ length: n }, rand));
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < j; i++) {
      const dot = q.reduce((a, r) => a + r[i] * r[j], 0);
      for (const r of q) r[j] -= dot * r[i];
    }
    const norm = Math.sqrt(q.reduce((a, r) => a + r[j] ** 2, 0));
    for (const r of q) r[j] /= norm;
  }
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q[i][k] * 3 * (n - k) * q[j][k];
  return a;
}

describe('symmetric eigensolvers', () => {
  it('Jacobi: [[2,1],[1,2]] has eigenvalues 3 and 1 along (1,1)/√2 and (1,−1)/√2', () => {
    const e = jacobiEigen([2, 1, 1, 2], 2);
    expect(Array.from(e.values)).toEqual([expect.closeTo(3, 14), expect.closeTo(1, 14)]);
    expect(Array.from(e.vectors)).toEqual([S2, S2, S2, -S2].map((v) => expect.closeTo(v, 14)));
  });

  it('Jacobi: the 3×3 second-difference matrix (eigenvalues 2+√2, 2, 2−√2)', () => {
    const e = jacobiEigen([2, -1, 0, -1, 2, -1, 0, -1, 2], 3);
    expect(Array.from(e.values)).toEqual([2 + Math.SQRT2, 2, 2 - Math.SQRT2].map((v) => expect.closeTo(v, 13)));
    const expected = [-0.5, S2, -0.5, S2, 0, -S2, 0.5, S2, 0.5]; // signs fixed: largest |entry| positive
    expect(Array.from(e.vectors)).toEqual(expected.map((v) => expect.closeTo(v, 13)));
  });

  it('subspace iteration finds the same top 5 of a 40×40 matrix as Jacobi', () => {
    const a = randomSymmetric(40, 7);
    const full = jacobiEigen(a, 40);
    expect(full.values[0]).toBeCloseTo(120, 9);
    expect(full.values[39]).toBeCloseTo(3, 9);
    const top = topEigen(a, 40, 5, { seed: 3 });
    for (let r = 0; r < 5; r++) {
      expect(top.values[r]).toBeCloseTo(full.values[r], 8);
      for (let j = 0; j < 40; j++) expect(top.vectors[r * 40 + j]).toBeCloseTo(full.vectors[r * 40 + j], 6);
    }
  });

  it('bad input is named', () => {
    expect(() => jacobiEigen([1, 2, 3], 2)).toThrow('jacobiEigen: expected an n×n matrix with n = 2 (4 values), got 3 values');
    expect(() => jacobiEigen([1, 2, 3, 4], 2)).toThrow('matrix is not symmetric at (0, 1): 2 vs 3');
    expect(() => topEigen([1, 0, 0, 1], 2, 3)).toThrow('topEigen: k must be an integer in [1, 2] (got 3)');
  });
});

describe('PCA', () => {
  // Centred points; covariance (n−1 = 5) is [[2, 0.4], [0.4, 2]] → 2.4 along (1,1)/√2, 1.6 along (1,−1)/√2.
  const x = matrix(Float32Array.from([2, 0, 0, 2, -2, 0, 0, -2, 1, 1, -1, -1]), 6, 2);

  it.each(['jacobi', 'subspace'] as const)('%s: components, variances, ratio and projection by hand', (method) => {
    const m = fitPca(x, 2, { method });
    expect(m.method).toBe(method);
    expect(Array.from(m.mean)).toEqual([0, 0]);
    expect(Array.from(m.explainedVariance)).toEqual([expect.closeTo(2.4, 6), expect.closeTo(1.6, 6)]);
    expect(Array.from(m.explainedVarianceRatio)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.4, 6)]);
    expect(Array.from(m.components)).toEqual([S2, S2, S2, -S2].map((v) => expect.closeTo(v, 6)));
    const z = pcaTransform(m, matrix(Float32Array.from([1, 1, 3, 1]), 2, 2));
    expect(Array.from(z.data)).toEqual([Math.SQRT2, 0, 2 * Math.SQRT2, Math.SQRT2].map((v) => expect.closeTo(v, 5)));
  });

  it('rejects a bad k, too few rows and a width mismatch', () => {
    expect(() => fitPca(x, 3)).toThrow('PCA: k must be an integer in [1, 2] (the input width; got 3)');
    expect(() => fitPca(matrix(Float32Array.from([1, 2]), 1, 2), 1)).toThrow('PCA needs at least 2 samples (got 1)');
    expect(() => pcaTransform(fitPca(x, 1), matrix(new Float32Array(3), 1, 3))).toThrow('input has 3 features, the model was fitted on 2');
    expect(() => fitPca(x, 1, { method: 'svd' as never })).toThrow('method must be "auto", "jacobi" or "subspace"');
  });
});
