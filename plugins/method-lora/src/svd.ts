/**
 * Singular value decomposition for PiSSA init and SVD adapter combination. tfjs has no
 * SVD, and the matrices involved are single weight matrices (at most a few thousand on a
 * side), so this works on plain Float64Arrays: exact enough and dependency-free.
 *
 * Matrices are row-major: element (i, j) of an m×n matrix is at a[i * n + j].
 */
export interface Svd {
  /** m×k, orthonormal columns. */
  u: Float64Array;
  /** k singular values, descending. */
  s: Float64Array;
  /** k×n, orthonormal rows (Vᵀ). */
  vt: Float64Array;
  m: number;
  n: number;
  k: number;
}

function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = a[i * n + j];
  return out;
}

/** (m×p)·(p×n) */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, p: number, n: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let t = 0; t < p; t++) {
      const av = a[i * p + t];
      if (av === 0) continue;
      const bRow = t * n;
      const oRow = i * n;
      for (let j = 0; j < n; j++) out[oRow + j] += av * b[bRow + j];
    }
  }
  return out;
}

/**
 * One-sided Jacobi (Hestenes) on the columns of a tall m×n matrix (m ≥ n): rotates column
 * pairs until all are orthogonal; the column norms are then the singular values. Chosen
 * over Golub–Kahan for being short, and accurate to working precision even for small
 * singular values.
 */
function jacobiTall(a: Float64Array, m: number, n: number): Svd {
  const w = new Float64Array(a); // columns become U·diag(s)
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const eps = 1e-15;
  for (let sweep = 0; sweep < 60; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        let alpha = 0;
        let beta = 0;
        let gamma = 0;
        for (let i = 0; i < m; i++) {
          const wp = w[i * n + p];
          const wq = w[i * n + q];
          alpha += wp * wp;
          beta += wq * wq;
          gamma += wp * wq;
        }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = Math.sign(zeta || 1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t);
        const s = c * t;
        for (let i = 0; i < m; i++) {
          const wp = w[i * n + p];
          const wq = w[i * n + q];
          w[i * n + p] = c * wp - s * wq;
          w[i * n + q] = s * wp + c * wq;
        }
        for (let i = 0; i < n; i++) {
          const vp = v[i * n + p];
          const vq = v[i * n + q];
          v[i * n + p] = c * vp - s * vq;
          v[i * n + q] = s * vp + c * vq;
        }
      }
    }
    if (!rotated) break;
  }
  const norms = Array.from({ length: n }, (_, j) => {
    let sum = 0;
    for (let i = 0; i < m; i++) sum += w[i * n + j] ** 2;
    return Math.sqrt(sum);
  });
  const order = norms.map((_, j) => j).sort((x, y) => norms[y] - norms[x]);
  const u = new Float64Array(m * n);
  const s = new Float64Array(n);
  const vt = new Float64Array(n * n);
  const tiny = (norms[order[0]] || 0) * 1e-13;
  order.forEach((j, col) => {
    s[col] = norms[j];
    for (let i = 0; i < n; i++) vt[col * n + i] = v[i * n + j];
    if (norms[j] > tiny) for (let i = 0; i < m; i++) u[i * n + col] = w[i * n + j] / norms[j];
  });
  completeOrthonormalColumns(u, m, n, order.map((j) => norms[j] > tiny));
  return { u, s, vt, m, n, k: n };
}

/**
 * Columns of U for (numerically) zero singular values are undefined; fill them with unit
 * vectors orthogonal to the rest so U always has orthonormal columns.
 */
function completeOrthonormalColumns(u: Float64Array, m: number, k: number, defined: boolean[]): void {
  let basis = 0;
  for (let col = 0; col < k; col++) {
    if (defined[col]) continue;
    for (; basis < m; basis++) {
      const cand = new Float64Array(m);
      cand[basis] = 1;
      for (let other = 0; other < k; other++) {
        if (other === col || (!defined[other] && other > col)) continue;
        let dot = 0;
        for (let i = 0; i < m; i++) dot += u[i * k + other] * cand[i];
        for (let i = 0; i < m; i++) cand[i] -= dot * u[i * k + other];
      }
      const norm = Math.sqrt(cand.reduce((acc, x) => acc + x * x, 0));
      if (norm > 1e-6) {
        for (let i = 0; i < m; i++) u[i * k + col] = cand[i] / norm;
        basis++;
        break;
      }
    }
    defined[col] = true;
  }
}

/** Thin SVD of an m×n matrix: A = U·diag(s)·Vᵀ with k = min(m, n). */
export function svd(a: ArrayLike<number>, m: number, n: number): Svd {
  if (a.length !== m * n) throw new Error(`svd: expected ${m}×${n} = ${m * n} values, got ${a.length}`);
  if (m >= n) return jacobiTall(Float64Array.from(a), m, n);
  // Aᵀ = U'·S·V'ᵀ  ⇒  A = V'·S·U'ᵀ
  const t = jacobiTall(transpose(a, m, n), n, m);
  return { u: transpose(t.vt, t.k, m), s: t.s, vt: transpose(t.u, n, t.k), m, n, k: t.k };
}

/** Modified Gram–Schmidt on the columns of an m×k matrix, in place. */
function orthonormalizeColumns(q: Float64Array, m: number, k: number): void {
  for (let j = 0; j < k; j++) {
    for (let p = 0; p < j; p++) {
      let dot = 0;
      for (let i = 0; i < m; i++) dot += q[i * k + p] * q[i * k + j];
      for (let i = 0; i < m; i++) q[i * k + j] -= dot * q[i * k + p];
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[i * k + j] ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < m; i++) q[i * k + j] /= norm;
  }
}

/** Deterministic pseudo-random normals (Box–Muller over an LCG), seeded. */
function gaussianMatrix(rows: number, cols: number, seed: number): Float64Array {
  let state = seed >>> 0 || 1;
  const next = () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return (state + 0.5) / 4294967296;
  };
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < out.length; i++) out[i] = Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}

/**
 * The top-`rank` singular triplets by randomized subspace iteration (Halko et al.), as
 * torch.svd_lowrank does for PEFT's "pissa_niter_N": cost O(m·n·rank·niter) instead of a
 * full SVD. Oversamples by a few columns, then takes an exact SVD of the small projection.
 */
export function svdLowRank(a: ArrayLike<number>, m: number, n: number, rank: number, niter: number, seed = 0): Svd {
  const k = Math.min(m, n);
  if (!(rank >= 1 && rank <= k)) throw new Error(`svdLowRank: rank must be in [1, ${k}] for a ${m}×${n} matrix, got ${rank}`);
  const l = Math.min(k, rank + 4);
  const at = transpose(a, m, n);
  let q = matmul(a, gaussianMatrix(n, l, seed), m, n, l);
  orthonormalizeColumns(q, m, l);
  for (let it = 0; it < niter; it++) {
    const z = matmul(at, q, n, m, l);
    orthonormalizeColumns(z, n, l);
    q = matmul(a, z, m, n, l);
    orthonormalizeColumns(q, m, l);
  }
  const b = matmul(transpose(q, m, l), a, l, m, n); // l×n
  const small = svd(b, l, n);
  const u = matmul(q, small.u, m, l, small.k);
  return truncate({ u, s: small.s, vt: small.vt, m, n, k: small.k }, rank);
}

/** Keeps the first `rank` triplets. */
export function truncate(d: Svd, rank: number): Svd {
  const r = Math.min(rank, d.k);
  const u = new Float64Array(d.m * r);
  for (let i = 0; i < d.m; i++) for (let j = 0; j < r; j++) u[i * r + j] = d.u[i * d.k + j];
  return { u, s: d.s.slice(0, r), vt: d.vt.slice(0, r * d.n), m: d.m, n: d.n, k: r };
}
