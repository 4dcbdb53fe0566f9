import { tf } from '@leantune/tensor';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import type { NativeAddon } from './addon';
import { NATIVE_MIN_ELEMENTS } from './wasm-elementwise';
import { replaceWasmKernel } from './wasm-registry';

/**
 * Data movement of the wasm backend done natively on the heap: Transpose (the stock kernel
 * moves ~10 ns per element of an attention head split), GatherV2 along one axis (embedding
 * lookups) and UnsortedSegmentSum (their gradient; @leantune/tensor's JS version runs on
 * one thread); Identity without a copy. Other dtypes and batched gathers stay with the
 * kernel registered before.
 */

type Infos = Record<string, tf.TensorInfo>;

function view(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

function output(backend: BackendWasm, shape: number[], compute: (out: Float32Array) => void): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  try {
    compute(view(backend, out));
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

/** Output shape and, per output axis, the input stride it walks; axes that move together merged. */
export function transposePlan(shape: readonly number[], perm: readonly number[]): { outShape: number[]; shape: Int32Array; strides: Int32Array } {
  const inStrides = shape.map((_, d) => shape.slice(d + 1).reduce((p, s) => p * s, 1));
  const outShape = perm.map((p) => shape[p]);
  const dims: number[] = [];
  const strides: number[] = [];
  perm.forEach((p) => {
    if (shape[p] === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && strides[last] === inStrides[p] * shape[p]) {
      dims[last] *= shape[p];
      strides[last] = inStrides[p];
      return;
    }
    dims.push(shape[p]);
    strides.push(inStrides[p]);
  });
  if (dims.length === 0) return { outShape, shape: Int32Array.of(1), strides: Int32Array.of(0) };
  return { outShape, shape: Int32Array.from(dims), strides: Int32Array.from(strides) };
}

function transposeKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as Infos;
    const { perm } = args.attrs as unknown as { perm: number[] };
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as BackendWasm;
    const plan = transposePlan(x.shape, perm);
    return output(backend, plan.outShape, (out) => addon.stridedCopy(view(backend, x), out, plan.shape, plan.strides));
  };
}

function gatherKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as Infos;
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    if (x.dtype !== 'float32' || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) return fallback(args);
    const [ax] = tf.util.parseAxisParam(axis, x.shape);
    const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    if (tf.util.sizeFromShape(outShape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as BackendWasm;
    const outer = tf.util.sizeFromShape(x.shape.slice(0, ax));
    const inner = tf.util.sizeFromShape(x.shape.slice(ax + 1));
    return output(backend, outShape, (out) =>
      addon.gather(view(backend, x), backend.typedArrayFromHeap(indices) as Int32Array, out, outer, x.shape[ax], inner));
  };
}

function segmentSumKernel(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x, segmentIds } = args.inputs as Infos;
    const { numSegments } = args.attrs as unknown as { numSegments: number };
    const fits = x.dtype === 'float32' && segmentIds.dtype === 'int32' && segmentIds.shape.length === 1 && x.shape.length >= 1 && segmentIds.shape[0] === x.shape[0];
    if (!fits || !Number.isInteger(numSegments) || numSegments < 0 || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as BackendWasm;
    return output(backend, [numSegments, ...x.shape.slice(1)], (out) =>
      addon.segmentSum(view(backend, x), backend.typedArrayFromHeap(segmentIds) as Int32Array, out, numSegments));
  };
}

/**
 * Identity (and a Cast to the same dtype) share the input's buffer instead of copying it,
 * exactly as wasm's own Reshape does and as the cpu backend's Identity does: tfjs never
 * writes a tensor's data in place (Variable.assign swaps buffers), so sharing is safe. A
 * training step clones hundreds of gradients this way.
 */
function shareKernel(fallback: tf.KernelFunc, sameDtype: (args: Parameters<tf.KernelFunc>[0]) => boolean): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as Infos;
    if (x.dtype === 'string' || !sameDtype(args)) return fallback(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/** Kernels absent on wasm (UnsortedSegmentSum without @leantune/tensor's) are left alone. */
export function installNativeMovement(addon: NativeAddon): void {
  const kernels: Array<[string, (fallback: tf.KernelFunc) => tf.KernelFunc]> = [
    [tf.Transpose, (fallback) => transposeKernel(addon, fallback)],
    [tf.GatherV2, (fallback) => gatherKernel(addon, fallback)],
    [tf.UnsortedSegmentSum, (fallback) => segmentSumKernel(addon, fallback)],
    [tf.Identity, (fallback) => shareKernel(fallback, () => true)],
    [tf.Cast, (fallback) => shareKernel(fallback, (args) => (args.attrs as { dtype?: string }).dtype === (args.inputs as Infos).x.dtype)],
  ];
  for (const [name, make] of kernels) {
    if (tf.getKernel(name, 'wasm') != null) replaceWasmKernel(name, make);
  }
}
