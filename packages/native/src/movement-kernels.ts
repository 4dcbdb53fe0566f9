import { tf } from '@leantune/tensor';
import type { NativeBackend } from './backend';
import { NATIVE_MIN_ELEMENTS } from './elementwise-kernels';
import type { KernelMaker } from './kernels';

/**
 * Data movement done natively: Transpose (a strided copy over merged axes, where the cpu
 * kernel computes an index per element), GatherV2 along one axis (embedding lookups) and
 * UnsortedSegmentSum (their gradient). Other dtypes and batched gathers stay with the cpu
 * kernels (Identity, Reshape and a same-dtype Cast already share buffers there).
 */

type Infos = Record<string, tf.TensorInfo>;

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

const transpose: KernelMaker = (fallback) => (args) => {
  const { x } = args.inputs as Infos;
  const size = tf.util.sizeFromShape(x.shape);
  if (x.dtype !== 'float32' || size < NATIVE_MIN_ELEMENTS) return fallback(args);
  const backend = args.backend as NativeBackend;
  const plan = transposePlan(x.shape, (args.attrs as unknown as { perm: number[] }).perm);
  const out = backend.allocate(tf.Transpose, plan.outShape, size);
  backend.addon.stridedCopy(backend.f32(x), out, plan.shape, plan.strides);
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
};

const gather: KernelMaker = (fallback) => (args) => {
  const { x, indices } = args.inputs as Infos;
  const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
  if (x.dtype !== 'float32' || indices.dtype !== 'int32' || (batchDims ?? 0) !== 0) return fallback(args);
  const [ax] = tf.util.parseAxisParam(axis, x.shape);
  const outShape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const size = tf.util.sizeFromShape(outShape);
  if (size < NATIVE_MIN_ELEMENTS) return fallback(args);
  const backend = args.backend as NativeBackend;
  const outer = tf.util.sizeFromShape(x.shape.slice(0, ax));
  const inner = tf.util.sizeFromShape(x.shape.slice(ax + 1));
  const out = backend.allocate(tf.GatherV2, outShape, size);
  backend.addon.gather(backend.f32(x), backend.i32(indices), out, outer, x.shape[ax], inner);
  return backend.makeTensorInfo(outShape, 'float32', out);
};

const segmentSum: KernelMaker = (fallback) => (args) => {
  const { x, segmentIds } = args.inputs as Infos;
  const { numSegments } = args.attrs as unknown as { numSegments: number };
  const fits = x.dtype === 'float32' && segmentIds.dtype === 'int32' && segmentIds.shape.length === 1 && x.shape.length >= 1 && segmentIds.shape[0] === x.shape[0];
  if (!fits || !Number.isInteger(numSegments) || numSegments < 0 || tf.util.sizeFromShape(x.shape) < NATIVE_MIN_ELEMENTS) return fallback(args);
  const backend = args.backend as NativeBackend;
  const outShape = [numSegments, ...x.shape.slice(1)];
  const out = backend.allocate(tf.UnsortedSegmentSum, outShape, tf.util.sizeFromShape(outShape));
  backend.addon.segmentSum(backend.f32(x), backend.i32(segmentIds), out, numSegments);
  return backend.makeTensorInfo(outShape, 'float32', out);
};

/**
 * A slice as a strided copy: out walks `size` over x's strides from x's offset at `begin`,
 * consecutive axes merged where they are contiguous in x. (The cpu kernel computes an N-d
 * index per element for a slice that is not one contiguous run: ~1.8 s per GPT-2 q/k/v split.)
 */
export function slicePlan(shape: readonly number[], begin: readonly number[], size: readonly number[]): { offset: number; shape: Int32Array; strides: Int32Array } {
  const inStrides = shape.map((_, d) => shape.slice(d + 1).reduce((p, s) => p * s, 1));
  const offset = begin.reduce((o, b, d) => o + b * inStrides[d], 0);
  const dims: number[] = [];
  const strides: number[] = [];
  size.forEach((n, d) => {
    if (n === 1) return;
    const last = dims.length - 1;
    if (last >= 0 && strides[last] === inStrides[d] * n) {
      dims[last] *= n;
      strides[last] = inStrides[d];
      return;
    }
    dims.push(n);
    strides.push(inStrides[d]);
  });
  if (dims.length === 0) return { offset, shape: Int32Array.of(1), strides: Int32Array.of(0) };
  return { offset, shape: Int32Array.from(dims), strides: Int32Array.from(strides) };
}

/** x[begin : begin + size] copied natively; undefined when the cpu kernel should do it (a contiguous run it returns as a view). */
function nativeSlice(backend: NativeBackend, x: tf.TensorInfo, begin: number[], size: number[]): tf.TensorInfo | undefined {
  const count = tf.util.sizeFromShape(size);
  if (x.dtype !== 'float32' || count < NATIVE_MIN_ELEMENTS || tf.slice_util.isSliceContinous(x.shape, begin, size)) return undefined;
  const plan = slicePlan(x.shape, begin, size);
  const out = backend.allocate(tf.Slice, size, count);
  backend.addon.stridedCopy(backend.f32(x).subarray(plan.offset), out, plan.shape, plan.strides);
  return backend.makeTensorInfo(size.slice(), 'float32', out);
}

const slice: KernelMaker = (fallback) => (args) => {
  const { x } = args.inputs as Infos;
  const attrs = args.attrs as unknown as { begin: number | number[]; size: number | number[] };
  const [begin, size] = tf.slice_util.parseSliceParams(x, attrs.begin, attrs.size);
  return nativeSlice(args.backend as NativeBackend, x, begin, size) ?? fallback(args);
};

/** tf.split: one native slice per piece (the cpu SplitV calls its own slice, not the registered kernel). */
const splitV: KernelMaker = (fallback) => (args) => {
  const { x } = args.inputs as Infos;
  const attrs = args.attrs as unknown as { numOrSizeSplits: number | number[]; axis: number };
  const axis = tf.util.parseAxisParam(attrs.axis, x.shape)[0];
  const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, attrs.numOrSizeSplits, axis);
  const backend = args.backend as NativeBackend;
  const begin = new Array<number>(x.shape.length).fill(0);
  const pieces: tf.TensorInfo[] = [];
  for (const n of sizes) {
    const size = x.shape.slice();
    size[axis] = n;
    const piece = nativeSlice(backend, x, begin.slice(), size);
    if (piece == null) {
      for (const p of pieces) backend.disposeData(p.dataId);
      return fallback(args);
    }
    pieces.push(piece);
    begin[axis] += n;
  }
  return pieces;
};

export const MOVEMENT_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.Transpose, transpose],
  [tf.Slice, slice],
  [tf.SplitV, splitV],
  [tf.GatherV2, gather],
  [tf.UnsortedSegmentSum, segmentSum],
];
