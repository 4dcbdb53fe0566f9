import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackendUnavailableError } from '@leantune/tensor';

/** Activation codes of the fused epilogue, as csrc/gemm.h numbers them. */
export const ACTIVATION_CODES = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5 } as const;
export type NativeActivation = keyof typeof ACTIVATION_CODES;

/** Op codes as csrc/elementwise.h numbers them, keyed by tfjs kernel name. */
export const BINARY_CODES = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Pow: 4, Maximum: 5, Minimum: 6, SquaredDifference: 7 } as const;
export const UNARY_CODES = { Square: 0, Sqrt: 1, Rsqrt: 2, Exp: 3, Log: 4, Tanh: 5, Neg: 6, Sigmoid: 7, Abs: 8, Relu: 9, Floor: 10 } as const;
export const REDUCE_CODES = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

export type Isa = 'avx512' | 'avx2' | 'scalar';

/** Quantized weight formats as csrc/quant.h numbers them. */
export const QUANT_CODES = { bf16: 1, fp16: 2, int8: 3, nf4: 4 } as const;

/** The N-API surface of build/Release/leantune_native.node (csrc/addon.cc). */
export interface NativeAddon {
  /**
   * out[o] = act(op(a[aIndex[o]]) · op(b[bIndex[o]]) + bias), synchronous. a holds [batchesA, m, k]
   * ([.., k, m] when transposeA), b [batchesB, k, n] ([.., n, k] when transposeB), out
   * [batch, m, n]; a null index means "o", or 0 for a side with one matrix.
   */
  matmul(
    a: Float32Array, b: Float32Array, out: Float32Array,
    m: number, n: number, k: number, transposeA: boolean, transposeB: boolean,
    batch: number, aIndex: Int32Array | null, bIndex: Int32Array | null,
    bias: Float32Array | null, activation: number, alpha: number,
  ): void;
  /**
   * out [m, n] = a [m, k] · B for a quantized W [rows, cols] (csrc/quant.h): B = W ([k, n]),
   * or Wᵀ when transposeB (W [n, k]). W is dequantized block by block while the GEMM packs
   * it; no fp32 copy of W is made. format: QUANT_CODES; data: Uint16Array (bf16/fp16),
   * Int8Array (int8), Uint8Array (nf4, two codes a byte); scales: one a row (int8) or a block
   * of 64 (nf4), else null with dqCodes/dqScales/dqOffset (nf4 double quantization).
   */
  quantMatmul(
    a: Float32Array, out: Float32Array, m: number, n: number, k: number, transposeB: boolean,
    format: number, data: Uint16Array | Int8Array | Uint8Array, scales: Float32Array | null,
    dqCodes: Int8Array | null, dqScales: Float32Array | null, dqOffset: number, rows: number, cols: number,
  ): void;
  /** out = op(a, b) over `shape`, each input read at Σ index·stride (stride 0 = broadcast axis). */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, shape: Int32Array, aStrides: Int32Array, bStrides: Int32Array): void;
  /** out[i] = op(x[i]). */
  unary(op: number, x: Float32Array, out: Float32Array): void;
  /** x viewed as [outer, reduce, inner] reduced over its middle axis into out [outer, inner]. */
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, reduce: number, inner: number): void;
  /** out (row-major over `shape`) = x read at Σ index·stride: a transpose with merged axes. */
  stridedCopy(x: Float32Array, out: Float32Array, shape: Int32Array, strides: Int32Array): void;
  /** x as [outer, axis, inner] → out [outer, indices.length, inner]; indices are range-checked. */
  gather(x: Float32Array, indices: Int32Array, out: Float32Array, outer: number, axis: number, inner: number): void;
  /** out [segments, inner] = Σ rows of x with that id (ids outside [0, segments) dropped), in float64. */
  segmentSum(x: Float32Array, ids: Int32Array, out: Float32Array, segments: number): void;
  /** Threads that compute a product, the calling thread included. */
  setThreads(threads: number): void;
  /** Forces a micro-kernel (tests, figures); false when this CPU lacks it. */
  setIsa(isa: Isa): boolean;
  info(): { isa: Isa; detectedIsa: Isa; threads: number };

  // Fused training kernels (csrc/fused*.cc). rows = product of the leading dims, cols = the
  // last dim; arrays are dense row-major over any ArrayBuffer. Synchronous; rows (elements)
  // are split across the pool when the work is large, with results identical for any thread
  // count. A length that does not match throws "<function>: <argument> must hold …".

  /**
   * loss[r] = logsumexp(logits[r, :]) − logits[r, labels[r]] (max-shifted, sum of exps in
   * float64). A label outside [0, cols) (e.g. −100, PyTorch's ignore_index) gives loss 0.
   * logits [rows·cols], labels [rows], loss [rows].
   */
  softmaxCrossEntropy(logits: Float32Array, labels: Int32Array, loss: Float32Array, rows: number, cols: number): void;
  /**
   * dlogits[r, c] = (softmax(logits[r])[c] − [c = labels[r]])·dloss[r]; rows with an ignored
   * label are 0. dlogits may be logits itself.
   */
  softmaxCrossEntropyGrad(logits: Float32Array, labels: Int32Array, dloss: Float32Array, dlogits: Float32Array, rows: number, cols: number): void;
  /** out[r, :] = softmax(x[r, :]) (max-shifted); out may be x. */
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  /** dx[r, :] = y·(dy − Σ dy·y) per row, y the softmax output (sum in float64). */
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  /**
   * out = (x − mean)·rstd·gamma + beta per row, rstd = 1/√(biased variance + eps); mean and
   * rstd ([rows]) are written for layerNormGrad. gamma/beta: [cols] or null (1 and 0).
   */
  layerNorm(
    x: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, out: Float32Array,
    mean: Float32Array, rstd: Float32Array, rows: number, cols: number, eps: number,
  ): void;
  /**
   * LayerNorm backward with layerNorm's mean/rstd: dx = rstd·(g − mean(g) − x̂·mean(g·x̂)),
   * g = dy·gamma, x̂ = (x − mean)·rstd. dgamma = Σ_rows dy·x̂ and dbeta = Σ_rows dy, each
   * [cols] or null (not computed), summed in float64 and overwritten (not accumulated).
   * dx must not share memory with dy or x.
   */
  layerNormGrad(
    dy: Float32Array, x: Float32Array, gamma: Float32Array | null, mean: Float32Array, rstd: Float32Array,
    dx: Float32Array, dgamma: Float32Array | null, dbeta: Float32Array | null, rows: number, cols: number,
  ): void;
  /**
   * out = GELU(x): approximate = true is the tanh form ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
   * (GPT-2's gelu_new); false is the exact x·Φ(x) with erf (BERT, ViT). out may be x.
   */
  gelu(x: Float32Array, out: Float32Array, approximate: boolean): void;
  /** dx = dy · GELU′(x), the derivative of the same form as gelu(). */
  geluGrad(x: Float32Array, dy: Float32Array, dx: Float32Array, approximate: boolean): void;
  /**
   * One torch.optim.AdamW step (amsgrad off) in place, in float32 in the order of
   * @leantune/train's AdamW: p ← p·(1 − lr·wd); m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²;
   * p ← p − (lr/bc1)·m / (√v/√bc2 + eps). biasCorrection1 = 1 − β1ᵗ, biasCorrection2 =
   * 1 − β2ᵗ, both in (0, 1]; weightDecay 0 skips decay.
   */
  adamw(
    param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, lr: number, beta1: number, beta2: number,
    eps: number, weightDecay: number, biasCorrection1: number, biasCorrection2: number,
  ): void;
  /**
   * out[i] = low + (high − low)·u (kept below high), u ∈ [0, 1) with 24 random bits that depend only on the
   * 64-bit seed (seedHi·2³² + seedLo, each a uint32) and i (a SplitMix64 hash), so any
   * thread count gives the same bytes.
   */
  fillUniform(out: Float32Array, seedHi: number, seedLo: number, low: number, high: number): void;
  /** out[i] = mean + std·z, z standard normal (Box–Muller on elements 2k, 2k + 1); seeded like fillUniform. */
  fillNormal(out: Float32Array, seedHi: number, seedLo: number, mean: number, std: number): void;
}

const ADDON_FILE = 'leantune_native.node';

/** Where node-gyp puts the addon, seen from src/ or dist/. */
export function addonPath(): string {
  return path.resolve(__dirname, '..', 'build', 'Release', ADDON_FILE);
}

let loaded: NativeAddon | null = null;

/**
 * The addon, loaded once. A missing file means the install-time build did not run or
 * failed: that is "not available here" (BackendUnavailableError), which `auto` skips.
 */
export function loadAddon(): NativeAddon {
  if (loaded != null) return loaded;
  const file = addonPath();
  if (!fs.existsSync(file)) {
    throw new BackendUnavailableError(
      `@leantune/native is installed but its addon ${file} was not built (the install step needs g++ and Python 3): ` +
        'run npm run build:addon -w @leantune/native, or choose another backend',
    );
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded = require(file) as NativeAddon;
  return loaded;
}
