import { tf } from '@leantune/tensor';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BINARY_CODES, REDUCE_CODES, UNARY_CODES, type NativeAddon } from './addon';
import { reductionView, stridedBinary } from './broadcast';
import { replaceWasmKernel } from './wasm-registry';

/**
 * Float32 elementwise ops and reductions of the wasm backend, computed natively on the heap
 * over both threads. The stock ones run on one thread, and some are slow per element
 * (Pow ~40 ns, Tanh ~27 ns, broadcast Multiply ~13 ns, Sum over rows ~16 ns, measured in a
 * decoder training step), while these stream at memory speed. Small tensors, other dtypes
 * and reductions over scattered axes stay with the kernel registered before.
 */

/** Below this many output elements the stock kernel is as quick as a native call. */
export const NATIVE_MIN_ELEMENTS = 1024;

type Infos = Record<string, tf.TensorInfo>;

function heap(backend: BackendWasm, info: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** Runs `compute` on views taken after the output's allocation (growth replaces the heap). */
function withOutput(backend: BackendWasm, shape: number[], compute: (out: Float32Array) => void): tf.TensorInfo {
  const out = backend.makeOutput(shape, 'float32');
  try {
    compute(heap(backend, out));
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

function binaryKernel(addon: NativeAddon, code: number, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as Infos;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    if (tf.util.sizeFromShape(outShape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as BackendWasm;
    const plan = stridedBinary(a.shape, b.shape, outShape);
    return withOutput(backend, outShape, (out) => addon.binary(code, heap(backend, a), heap(backend, b), out, plan.shape, plan.aStrides, plan.bStrides));
  };
}

function unaryKernel(addon: NativeAddon, code: number, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as Infos;
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as BackendWasm;
    return withOutput(backend, x.shape, (out) => addon.unary(code, heap(backend, x), out));
  };
}

function reduceKernel(addon: NativeAddon, code: number, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { x } = args.inputs as Infos;
    // Max names its axes reductionIndices; Sum, Mean and Min name them axis.
    // A null axis means every axis (tf.sum(x)); parseAxisParam reads it so.
    const attrs = args.attrs as unknown as { axis?: number | number[]; reductionIndices?: number | number[]; keepDims: boolean };
    const axis = ('reductionIndices' in attrs ? attrs.reductionIndices : attrs.axis) as number | number[];
    const keepDims = attrs.keepDims;
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const view = reductionView(x.shape, axes);
    if (view == null) return fallback(args);
    const outShape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const backend = args.backend as BackendWasm;
    return withOutput(backend, outShape, (out) => addon.reduce(code, heap(backend, x), out, view.outer, view.reduce, view.inner));
  };
}

export function installNativeElementwise(addon: NativeAddon): void {
  for (const [name, code] of Object.entries(BINARY_CODES)) replaceWasmKernel(name, (fallback) => binaryKernel(addon, code, fallback));
  for (const [name, code] of Object.entries(UNARY_CODES)) replaceWasmKernel(name, (fallback) => unaryKernel(addon, code, fallback));
  for (const [name, code] of Object.entries(REDUCE_CODES)) replaceWasmKernel(name, (fallback) => reduceKernel(addon, code, fallback));
}
