import * as tf from '@tensorflow/tfjs-core';
import {
  type BackendWasm,
  Intermediates,
  reshapeInfo,
  runKernel,
  runWasm,
  transposeInner,
} from './kernel-utils';

/**
 * BatchMatMul / _FusedMatMul for wasm that always reach XNNPACK's fast path.
 *
 * The stock kernels take XNNPACK's multi-threaded GEMM only for untransposed operands with
 * batch 1; everything else runs a naive single-threaded loop (at n=1024: 18.7 GFLOP/s
 * plain, 0.34 transposed-A, 1.26 transposed-B). Backward passes are all transposes, so:
 * - transposes are materialised first (one O(n²) tiled copy, see transposeInner);
 * - a batch multiplied by one shared matrix (x[B,T,K] · W[K,N]) is folded into the rows of
 *   a single [B·T, K] product;
 * - other batches run one fast product per batch, except tiny matrices, where per-call
 *   overhead exceeds the loop's cost and the stock kernel is called once.
 * Stock `_FusedMatMul` also mis-adds a rank-1 bias off the fast path and rejects other bias
 * ranks; here bias and activation are applied with the wasm Add/activation kernels unless
 * XNNPACK can fuse them exactly.
 * The numbers are the stock kernels' own products; only the operand layout changes.
 */

/** Below this many multiply-adds per batch the stock loop beats one XNNPACK call per batch. */
export const SMALL_BATCH_PRODUCT = 32 * 32 * 32;

export interface MatMulPlan {
  m: number;
  k: number;
  n: number;
  batchA: number[];
  batchB: number[];
  outBatch: number[];
  sizeA: number;
  sizeB: number;
  outSize: number;
  outShape: number[];
}

/** Shapes of a (batched, broadcast, transposed) product; `backend` only labels errors. */
export function planMatMul(kernelName: string, aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean, backend = 'wasm'): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`${kernelName} (${backend}): a and b need rank >= 2, got shapes [${aShape}] and [${bShape}]`);
  }
  const [ra, rb] = [aShape.length, bShape.length];
  const [m, kA] = transposeA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const [kB, n] = transposeB ? [bShape[rb - 1], bShape[rb - 2]] : [bShape[rb - 2], bShape[rb - 1]];
  if (kA !== kB) {
    throw new Error(
      `${kernelName} (${backend}): inner dimensions differ: a [${aShape}] (transposeA=${transposeA}) gives ${kA}, ` +
        `b [${bShape}] (transposeB=${transposeB}) gives ${kB}`,
    );
  }
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const size = (shape: number[]): number => tf.util.sizeFromShape(shape);
  return {
    m, k: kA, n, batchA, batchB, outBatch,
    sizeA: size(batchA), sizeB: size(batchB), outSize: size(outBatch),
    outShape: [...outBatch, m, n],
  };
}

/** Flat index into a (broadcast) input batch for flat output batch `flat`. */
export function broadcastBatchIndex(flat: number, outBatch: number[], inBatch: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = flat;
  for (let axis = outBatch.length - 1, inAxis = inBatch.length - 1; axis >= 0; axis--, inAxis--) {
    const coordinate = rest % outBatch[axis];
    rest = Math.floor(rest / outBatch[axis]);
    if (inAxis < 0) continue;
    if (inBatch[inAxis] !== 1) index += coordinate * stride;
    stride *= inBatch[inAxis];
  }
  return index;
}

/** One untransposed product of 3-D operands, computed by a stock kernel. */
type Product = (a3: tf.TensorInfo, b3: tf.TensorInfo) => tf.TensorInfo;

/** a: [...batchA, m, k], b: [...batchB, k, n] (already untransposed) → [outSize, m, n] or [1, outSize·m, n]. */
function batchedProduct(backend: BackendWasm, plan: MatMulPlan, a: tf.TensorInfo, b: tf.TensorInfo, product: Product, temps: Intermediates): tf.TensorInfo {
  const { m, k, n, sizeA, sizeB, outSize } = plan;
  if (sizeB === 1) {
    const rows = temps.keep(reshapeInfo(backend, a, [1, sizeA * m, k]));
    return product(rows, temps.keep(reshapeInfo(backend, b, [1, k, n])));
  }
  const a3 = temps.keep(reshapeInfo(backend, a, [sizeA, m, k]));
  const b3 = temps.keep(reshapeInfo(backend, b, [sizeB, k, n]));
  // The stock kernel broadcasts a batch of 1, but not two-sided batches like [2,1]·[1,3].
  const stockBroadcasts = (sizeA === outSize || sizeA === 1) && (sizeB === outSize || sizeB === 1);
  if (stockBroadcasts && m * k * n < SMALL_BATCH_PRODUCT) return product(a3, b3);
  const out = backend.makeOutput([outSize, m, n], 'float32');
  const pick = (x3: tf.TensorInfo, batches: number, index: number, rows: number, cols: number): tf.TensorInfo =>
    batches === 1 ? x3 : runWasm(tf.Slice, backend, { x: x3 }, { begin: [index, 0, 0], size: [1, rows, cols] });
  try {
    for (let o = 0; o < outSize; o++) {
      const step = new Intermediates(backend);
      try {
        const ai = pick(a3, sizeA, broadcastBatchIndex(o, plan.outBatch, plan.batchA), m, k);
        if (ai !== a3) step.keep(ai);
        const bi = pick(b3, sizeB, broadcastBatchIndex(o, plan.outBatch, plan.batchB), k, n);
        if (bi !== b3) step.keep(bi);
        const oi = step.keep(product(ai, bi));
        // Views are taken after every allocation: growing wasm memory replaces the buffer.
        (backend.typedArrayFromHeap(out) as Float32Array).set(backend.typedArrayFromHeap(oi) as Float32Array, o * m * n);
      } finally {
        step.dispose();
      }
    }
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

function zeros(backend: BackendWasm, shape: number[]): tf.TensorInfo {
  return backend.makeOutput(shape, 'float32', undefined, new Float32Array(tf.util.sizeFromShape(shape)));
}

/** a·b with stock BatchMatMul `original`, shaped [...outBatch, m, n]; the caller owns the result. */
function fastMatMul(backend: BackendWasm, original: tf.KernelFunc, plan: MatMulPlan, a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): tf.TensorInfo {
  if (plan.k === 0 || plan.outSize * plan.m * plan.n === 0) return zeros(backend, plan.outShape);
  const temps = new Intermediates(backend);
  try {
    const a2 = transposeA ? temps.keep(transposeInner(backend, a)) : a;
    const b2 = transposeB ? temps.keep(transposeInner(backend, b)) : b;
    const product: Product = (a3, b3) => runKernel(original, backend, { a: a3, b: b3 }, { transposeA: false, transposeB: false });
    const out = temps.keep(batchedProduct(backend, plan, a2, b2, product, temps));
    return reshapeInfo(backend, out, plan.outShape);
  } finally {
    temps.dispose();
  }
}

export function makeBatchMatMul(original: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return original(args);
    const { transposeA, transposeB } = args.attrs as { transposeA: boolean; transposeB: boolean };
    const plan = planMatMul(tf.BatchMatMul, a.shape, b.shape, transposeA, transposeB);
    return fastMatMul(args.backend as BackendWasm, original, plan, a, b, transposeA, transposeB);
  };
}

interface FusedAttrs {
  transposeA: boolean;
  transposeB: boolean;
  activation: string;
  leakyreluAlpha?: number;
}

function activate(backend: BackendWasm, x: tf.TensorInfo, attrs: FusedAttrs, preluWeights?: tf.TensorInfo): tf.TensorInfo | null {
  switch (attrs.activation) {
    case 'linear': return null;
    case 'relu': return runWasm(tf.Relu, backend, { x });
    case 'relu6': return runWasm(tf.Relu6, backend, { x });
    case 'elu': return runWasm(tf.Elu, backend, { x });
    case 'sigmoid': return runWasm(tf.Sigmoid, backend, { x });
    case 'leakyrelu': return runWasm(tf.LeakyRelu, backend, { x }, { alpha: attrs.leakyreluAlpha ?? 0.2 });
    case 'prelu':
      if (preluWeights == null) throw new Error('_FusedMatMul (wasm): activation prelu needs preluActivationWeights');
      return runWasm(tf.Prelu, backend, { x, alpha: preluWeights });
    default:
      throw new Error(`_FusedMatMul (wasm): activation '${attrs.activation}' is not supported; use linear, relu, relu6, elu, sigmoid, leakyrelu or prelu`);
  }
}

/** XNNPACK fuses exactly a per-column bias and a clamp; anything else is applied after. */
const XNN_FUSABLE = new Set(['linear', 'relu', 'relu6']);

export function makeFusedMatMul(originalFused: tf.KernelFunc, originalBatchMatMul: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo>;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return originalFused(args);
    const attrs = args.attrs as unknown as FusedAttrs;
    const backend = args.backend as BackendWasm;
    const plan = planMatMul(tf._FusedMatMul, a.shape, b.shape, attrs.transposeA, attrs.transposeB);
    const temps = new Intermediates(backend);
    try {
      const biasPerColumn = bias == null || (bias.shape.length === 1 && bias.shape[0] === plan.n);
      if (plan.sizeB === 1 && plan.k > 0 && plan.outSize * plan.m * plan.n > 0 && biasPerColumn && XNN_FUSABLE.has(attrs.activation)) {
        const a2 = attrs.transposeA ? temps.keep(transposeInner(backend, a)) : a;
        const b2 = attrs.transposeB ? temps.keep(transposeInner(backend, b)) : b;
        const rows = temps.keep(reshapeInfo(backend, a2, [1, plan.sizeA * plan.m, plan.k]));
        const b3 = temps.keep(reshapeInfo(backend, b2, [1, plan.k, plan.n]));
        const inputs: tf.NamedTensorInfoMap = bias == null ? { a: rows, b: b3 } : { a: rows, b: b3, bias };
        const fusedAttrs = { ...attrs, transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap;
        const out = temps.keep(runKernel(originalFused, backend, inputs, fusedAttrs));
        return reshapeInfo(backend, out, plan.outShape);
      }
      let y = temps.keep(fastMatMul(backend, originalBatchMatMul, plan, a, b, attrs.transposeA, attrs.transposeB));
      if (bias != null) y = temps.keep(runWasm(tf.Add, backend, { a: y, b: bias }));
      const activated = activate(backend, y, attrs, preluActivationWeights);
      if (activated != null) y = temps.keep(activated);
      return reshapeInfo(backend, y, y.shape);
    } finally {
      temps.dispose();
    }
  };
}
