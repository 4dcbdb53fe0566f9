import { Module, tf } from '@leantune/tensor';

/** Deterministic small test values in [-1, 1], different per salt. */
export function testValues(n: number, salt = 0): number[] {
  return Array.from({ length: n }, (_, i) => Math.round(Math.sin(0.9 * i + 2.3 * salt + 0.4) * 1000) / 1000);
}

/** Loads plain nested arrays into a module by dotted path (strict: every key given). */
export function setParameters(module: Module, values: Record<string, number[]>): void {
  const tensors = new Map<string, tf.Tensor>();
  for (const [path, data] of Object.entries(values)) {
    tensors.set(path, tf.tensor(data, module.getParameter(path).shape));
  }
  try {
    module.loadStateDict(tensors, { strict: true });
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** Row-major [rows, cols] matrix product of plain arrays: a [n, k] · b [k, m]. */
export function matmul(a: number[], b: number[], n: number, k: number, m: number): number[] {
  const out = new Array<number>(n * m).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) out[i * m + j] += a[i * k + t] * b[t * m + j];
  return out;
}

/** Transposes a row-major [rows, cols] plain array. */
export function transpose(a: number[], rows: number, cols: number): number[] {
  const out = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[j * rows + i] = a[i * cols + j];
  return out;
}

/** Linear in PyTorch layout on plain arrays: x [n, in] · Wᵀ (W [out, in]) + b. */
export function linearRef(x: number[], w: number[], b: number[] | undefined, n: number, inF: number, outF: number): number[] {
  const y = matmul(x, transpose(w, outF, inF), n, inF, outF);
  return b ? y.map((v, i) => v + b[i % outF]) : y;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  const bad: string[] = [];
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) bad.push(`[${i}] ${actual[i]} vs ${expected[i]}`);
  }
  expect(bad).toEqual([]);
}
