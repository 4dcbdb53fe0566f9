import { tf } from '@leantune/tensor';
import { jacobiEigen, topEigen } from './eigen';
import type { Matrix } from './matrix';

export interface PcaModel {
  /** Input width d and number of components k. */
  d: number;
  k: number;
  mean: Float64Array;
  /** k×d, row-major: component i is row i (unit length, largest-|x| entry positive). */
  components: Float64Array;
  /** Variance along each component (eigenvalues of the covariance, n − 1 denominator). */
  explainedVariance: Float64Array;
  /** explainedVariance / total variance. */
  explainedVarianceRatio: Float64Array;
  method: 'jacobi' | 'subspace';
}

export interface PcaOptions {
  /** 'jacobi' solves the full covariance (exact; d ≤ ~300), 'subspace' iterates for the top k; 'auto' picks by d. */
  method?: 'auto' | 'jacobi' | 'subspace';
  seed?: number;
}

/**
 * The covariance matrix (d×d, float64), with the one big product XcᵀXc on the active tfjs
 * backend; everything after that is float64 JavaScript.
 */
export function covariance(x: Matrix): { mean: Float64Array; cov: Float64Array } {
  if (x.rows < 2) throw new Error(`PCA needs at least 2 samples (got ${x.rows})`);
  const mean = new Float64Array(x.cols);
  for (let i = 0; i < x.rows; i++) for (let j = 0; j < x.cols; j++) mean[j] += x.data[i * x.cols + j];
  for (let j = 0; j < x.cols; j++) mean[j] /= x.rows;
  const product = tf.tidy(() => {
    const centred = tf.sub(tf.tensor2d(x.data, [x.rows, x.cols]), tf.tensor1d(Float32Array.from(mean)));
    return tf.matMul(centred, centred, true, false);
  });
  const raw = product.dataSync();
  product.dispose();
  const cov = new Float64Array(x.cols * x.cols);
  for (let i = 0; i < x.cols; i++) {
    for (let j = 0; j < x.cols; j++) cov[i * x.cols + j] = (raw[i * x.cols + j] + raw[j * x.cols + i]) / 2 / (x.rows - 1);
  }
  return { mean, cov };
}

/** Fits PCA with k components on the rows of x. */
export function fitPca(x: Matrix, k: number, options: PcaOptions = {}): PcaModel {
  if (!Number.isInteger(k) || k < 1 || k > x.cols) throw new Error(`PCA: k must be an integer in [1, ${x.cols}] (the input width; got ${k})`);
  const { mean, cov } = covariance(x);
  const d = x.cols;
  const method = options.method === 'auto' || options.method === undefined ? (d <= 300 ? 'jacobi' : 'subspace') : options.method;
  if (method !== 'jacobi' && method !== 'subspace') throw new Error(`PCA: method must be "auto", "jacobi" or "subspace" (got ${JSON.stringify(options.method)})`);
  const eig = method === 'jacobi' ? jacobiEigen(cov, d) : topEigen(cov, d, k, { seed: options.seed });
  let total = 0;
  for (let i = 0; i < d; i++) total += cov[i * d + i];
  const explainedVariance = Float64Array.from(eig.values.slice(0, k), (v) => Math.max(0, v));
  return {
    d,
    k,
    mean,
    components: eig.vectors.slice(0, k * d),
    explainedVariance,
    explainedVarianceRatio: explainedVariance.map((v) => (total > 0 ? v / total : 0)),
    method,
  };
}

/** Projects rows onto the components: (x − mean)·Vᵀ, n×k. */
export function pcaTransform(model: PcaModel, x: Matrix): Matrix {
  if (x.cols !== model.d) throw new Error(`PCA transform: input has ${x.cols} features, the model was fitted on ${model.d}`);
  const out = new Float32Array(x.rows * model.k);
  for (let i = 0; i < x.rows; i++) {
    for (let c = 0; c < model.k; c++) {
      let s = 0;
      for (let j = 0; j < model.d; j++) s += (x.data[i * x.cols + j] - model.mean[j]) * model.components[c * model.d + j];
      out[i * model.k + c] = s;
    }
  }
  return { data: out, rows: x.rows, cols: model.k };
}
