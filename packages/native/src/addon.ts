import * as fs from 'node:fs';
import * as path from 'node:path';
import { BackendUnavailableError } from '@leantune/tensor';

/** Activation codes of the fused epilogue, as csrc/gemm.h numbers them. */
export const ACTIVATION_CODES = { linear: 0, relu: 1, relu6: 2, leakyrelu: 3, elu: 4, sigmoid: 5 } as const;
export type NativeActivation = keyof typeof ACTIVATION_CODES;

/** Op codes as csrc/elementwise.h numbers them, keyed by tfjs kernel name. */
export const BINARY_CODES = { Add: 0, Sub: 1, Multiply: 2, RealDiv: 3, Pow: 4, Maximum: 5, Minimum: 6, SquaredDifference: 7 } as const;
export const UNARY_CODES = { Square: 0, Sqrt: 1, Rsqrt: 2, Exp: 3, Log: 4, Tanh: 5, Neg: 6, Sigmoid: 7, Abs: 8, Relu: 9 } as const;
export const REDUCE_CODES = { Sum: 0, Mean: 1, Max: 2, Min: 3 } as const;

export type Isa = 'avx512' | 'avx2' | 'scalar';

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
