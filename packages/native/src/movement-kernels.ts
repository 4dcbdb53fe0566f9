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

export const MOVEMENT_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.Transpose, transpose],
  [tf.GatherV2, gather],
  [tf.UnsortedSegmentSum, segmentSum],
];
