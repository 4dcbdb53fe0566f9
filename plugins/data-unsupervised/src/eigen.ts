/**
 * Symmetric eigendecomposition for PCA: cyclic Jacobi for the full problem (small d), and
 * subspace (block power) iteration with a Rayleigh–Ritz step for the top k of a large one.
 * Matrices are row-major Float64Array, n×n.
 */

export interface Eigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** Eigenvectors as rows (k×n), matching `values`; each with its largest-|x| entry positive (first of ties). */
  vectors: Float64Array;
}

function checkSquare(a: ArrayLike<number>, n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || a.length !== n * n) throw new Error(`${what}: expected an n×n matrix with n = ${n} (${n * n} values), got ${a.length} values`);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const x = a[i * n + j];
      const y = a[j * n + i];
      if (Math.abs(x - y) > 1e-8 * Math.max(1, Math.abs(x), Math.abs(y))) throw new Error(`${what}: matrix is not symmetric at (${i}, ${j}): ${x} vs ${y}`);
    }
  }
}

/**
 * Flips each row so its largest-magnitude entry is positive (a fixed sign, as sklearn does).
 * Entries equal to 1e-9 (relative) count as ties, won by the lower index, so rounding noise
 * cannot flip a vector such as (1, −1)/√2.
 */
function fixSigns(vectors: Float64Array, k: number, n: number): void {
  for (let r = 0; r < k; r++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (Math.abs(vectors[r * n + j]) > Math.abs(vectors[r * n + best]) * (1 + 1e-9)) best = j;
    if (vectors[r * n + best] < 0) for (let j = 0; j < n; j++) vectors[r * n + j] = -vectors[r * n + j];
  }
}

/** All eigenpairs of a symmetric matrix by cyclic Jacobi rotations (O(n³) per sweep). */
export function jacobiEigen(matrix: ArrayLike<number>, n: number, options: { maxSweeps?: number; tol?: number } = {}): Eigen {
  checkSquare(matrix, n, 'jacobiEigen');
  const a = Float64Array.from(matrix as ArrayLike<number>);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const tol = options.tol ?? 1e-14;
  let scale = 0;
  for (let i = 0; i < n * n; i++) scale += a[i] * a[i];
  for (let sweep = 0; sweep < (options.maxSweeps ?? 100); sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= tol * tol * scale || off === 0) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // Rotation angle that zeroes a[p][q] (Numerical Recipes §11.1, the stable form).
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => a[j * n + j] - a[i * n + i] || i - j);
  const values = Float64Array.from(order, (i) => a[i * n + i]);
  const vectors = new Float64Array(n * n);
  order.forEach((col, r) => {
    for (let k = 0; k < n; k++) vectors[r * n + k] = v[k * n + col];
  });
  fixSigns(vectors, n, n);
  return { values, vectors };
}

/** Orthonormalises the columns of q (n×k, row-major) in place by modified Gram–Schmidt. */
function orthonormalize(q: Float64Array, n: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let r = 0; r < n; r++) dot += q[r * k + i] * q[r * k + j];
      for (let r = 0; r < n; r++) q[r * k + j] -= dot * q[r * k + i];
    }
    let norm = 0;
    for (let r = 0; r < n; r++) norm += q[r * k + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let r = 0; r < n; r++) q[r * k + j] /= norm;
  }
}

/** C·Q for symmetric C (n×n) and Q (n×k). */
function multiply(c: Float64Array, q: Float64Array, n: number, k: number): Float64Array {
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let m = 0; m < n; m++) {
      const cim = c[i * n + m];
      if (cim === 0) continue;
      for (let j = 0; j < k; j++) out[i * k + j] += cim * q[m * k + j];
    }
  }
  return out;
}

/**
 * Top-k eigenpairs by subspace iteration (k + 8 vectors, seeded start), then Rayleigh–Ritz:
 * the small projected matrix Qᵀ·C·Q is solved exactly by Jacobi.
 */
export function topEigen(matrix: ArrayLike<number>, n: number, k: number, options: { iterations?: number; seed?: number; tol?: number } = {}): Eigen {
  if (!Number.isInteger(k) || k < 1 || k > n) throw new Error(`topEigen: k must be an integer in [1, ${n}] (got ${k})`);
  checkSquare(matrix, n, 'topEigen');
  const c = Float64Array.from(matrix as ArrayLike<number>);
  const p = Math.min(n, k + 8);
  let q: Float64Array = new Float64Array(n * p);
  let state = (options.seed ?? 1) >>> 0 || 1;
  for (let i = 0; i < q.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    q[i] = ((state >>> 0) / 4294967296) * 2 - 1;
  }
  orthonormalize(q, n, p);
  let previous: Float64Array = new Float64Array(k);
  for (let it = 0; it < (options.iterations ?? 300); it++) {
    q = multiply(c, q, n, p);
    // Rayleigh quotients of the first k columns, before normalising, track convergence.
    const current = new Float64Array(k);
    for (let j = 0; j < k; j++) for (let r = 0; r < n; r++) current[j] += q[r * p + j] ** 2;
    orthonormalize(q, n, p);
    const done = current.every((x, j) => Math.abs(Math.sqrt(x) - Math.sqrt(previous[j])) <= (options.tol ?? 1e-10) * Math.max(1, Math.sqrt(x)));
    previous = current;
    if (done && it > 2) break;
  }
  const cq = multiply(c, q, n, p);
  const small = new Float64Array(p * p);
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) for (let r = 0; r < n; r++) small[i * p + j] += q[r * p + i] * cq[r * p + j];
  for (let i = 0; i < p; i++) for (let j = i + 1; j < p; j++) small[i * p + j] = small[j * p + i] = (small[i * p + j] + small[j * p + i]) / 2;
  const ritz = jacobiEigen(small, p);
  const vectors = new Float64Array(k * n);
  for (let r = 0; r < k; r++) for (let m = 0; m < n; m++) for (let j = 0; j < p; j++) vectors[r * n + m] += q[m * p + j] * ritz.vectors[r * p + j];
  fixSigns(vectors, k, n);
  return { values: ritz.values.slice(0, k), vectors };
}
