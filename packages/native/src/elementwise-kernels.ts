import { tf } from '@leantune/tensor';
import { BINARY_CODES, REDUCE_CODES, UNARY_CODES } from './addon';
import type { NativeBackend } from './backend';
import { reductionView, stridedBinary } from './broadcast';
import type { KernelMaker } from './kernels';

/**
 * Float32 elementwise ops and reductions computed natively: broadcasting by strides over
 * merged axes, vectorized loops (the cpu backend's are scalar JS, with an index
 * computation per element when broadcasting). Small tensors, other dtypes and reductions
 * over scattered axes stay with the cpu kernel.
 */

/** Below this many output elements the cpu kernel is as quick as a native call. */
export const NATIVE_MIN_ELEMENTS = 1024;

type Infos = Record<string, tf.TensorInfo>;

function binaryKernel(name: string, code: number): KernelMaker {
  return (fallback) => (args) => {
    const { a, b } = args.inputs as Infos;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const size = tf.util.sizeFromShape(outShape);
    if (size < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as NativeBackend;
    const plan = stridedBinary(a.shape, b.shape, outShape);
    const out = backend.allocate(name, outShape, size);
    backend.addon.binary(code, backend.f32(a), backend.f32(b), out, plan.shape, plan.aStrides, plan.bStrides);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

function unaryKernel(name: string, code: number): KernelMaker {
  return (fallback) => (args) => {
    const { x } = args.inputs as Infos;
    if (x.dtype !== 'float32') return fallback(args);
    const size = tf.util.sizeFromShape(x.shape);
    if (size < NATIVE_MIN_ELEMENTS) return fallback(args);
    const backend = args.backend as NativeBackend;
    const out = backend.allocate(name, x.shape, size);
    backend.addon.unary(code, backend.f32(x), out);
    return backend.makeTensorInfo(x.shape.slice(), 'float32', out);
  };
}

interface ReduceAttrs {
  axis?: number | number[];
  reductionIndices?: number | number[];
  keepDims: boolean;
}

function reduceKernel(name: string, code: number): KernelMaker {
  return (fallback) => (args) => {
    const { x } = args.inputs as Infos;
    if (x.dtype !== 'float32' || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
    // Max names its axes reductionIndices; Sum, Mean and Min name them axis. A null axis
    // means every axis (tf.sum(x)); parseAxisParam reads it so.
    const attrs = args.attrs as unknown as ReduceAttrs;
    const axis = (attrs.reductionIndices !== undefined ? attrs.reductionIndices : attrs.axis) as number | number[];
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const view = reductionView(x.shape, axes);
    if (view == null) return fallback(args);
    const outShape = attrs.keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const backend = args.backend as NativeBackend;
    const out = backend.allocate(name, outShape, view.outer * view.inner);
    backend.addon.reduce(code, backend.f32(x), out, view.outer, view.reduce, view.inner);
    return backend.makeTensorInfo(outShape, 'float32', out);
  };
}

/** The addon's fused row softmax, where the build has it (csrc/fused*.cc). */
/** Softmax over the last axis as the cpu kernel defines it, exp(x − max) / Σ exp(x − max), in one fused pass. */
const softmax: KernelMaker = (fallback) => (args) => {
  const { logits } = args.inputs as Infos;
  const shape = logits.shape;
  const rank = shape.length;
  const dim = (args.attrs as unknown as { dim: number }).dim;
  const size = tf.util.sizeFromShape(shape);
  if (logits.dtype !== 'float32' || rank === 0 || (dim !== -1 && dim !== rank - 1) || size < NATIVE_MIN_ELEMENTS) return fallback(args);
  const backend = args.backend as NativeBackend;
  const inner = shape[rank - 1];
  const out = backend.allocate(tf.Softmax, shape, size);
  backend.addon.softmax(backend.f32(logits), out, size / inner, inner);
  return backend.makeTensorInfo(shape.slice(), 'float32', out);
};

export const ELEMENTWISE_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  ...Object.entries(BINARY_CODES).map(([name, code]): [string, KernelMaker] => [name, binaryKernel(name, code)]),
  ...Object.entries(UNARY_CODES).map(([name, code]): [string, KernelMaker] => [name, unaryKernel(name, code)]),
  ...Object.entries(REDUCE_CODES).map(([name, code]): [string, KernelMaker] => [name, reduceKernel(name, code)]),
  [tf.Softmax, softmax],
];
