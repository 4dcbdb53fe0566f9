import { tf } from '@leantune/tensor';
import type { NativeBackend } from './backend';
import { NATIVE_MIN_ELEMENTS } from './elementwise-kernels';
import type { KernelMaker } from './kernels';

/**
 * ClipByValue and the kernels of its gradient (GreaterEqual, LessEqual, LogicalAnd, Select):
 * plain typed-array loops for float32/bool operands of one shape, or a scalar second operand.
 * The cpu kernels call a closure per element (and index every element on the slow
 * broadcasting path); MobileNetV2's ReLU6 (a clipByValue) and its backward spent ~2 s of a
 * 3.9 s step in them. Other shapes, dtypes and tensors under NATIVE_MIN_ELEMENTS go to the
 * cpu kernel.
 */

type Infos = Record<string, tf.TensorInfo>;

function values(backend: NativeBackend, info: tf.TensorInfo): tf.backend_util.TypedArray {
  return backend.data.get(info.dataId).values as tf.backend_util.TypedArray;
}

/** b is a's shape or a single value; both of `dtype`, and enough elements to be worth it. */
function sameOrScalar(a: tf.TensorInfo, b: tf.TensorInfo, dtype: tf.DataType): boolean {
  return a.dtype === dtype && b.dtype === dtype && tf.util.sizeFromShape(a.shape) >= NATIVE_MIN_ELEMENTS
    && (tf.util.arraysEqual(a.shape, b.shape) || b.shape.length === 0);
}

function compare(op: (a: tf.backend_util.TypedArray, b: tf.backend_util.TypedArray, out: Uint8Array, scalar: boolean) => void,
  dtype: tf.DataType): KernelMaker {
  return (fallback) => (args) => {
    const { a, b } = args.inputs as Infos;
    if (!sameOrScalar(a, b, dtype)) return fallback(args);
    const backend = args.backend as NativeBackend;
    const out = new Uint8Array(tf.util.sizeFromShape(a.shape));
    op(values(backend, a), values(backend, b), out, b.shape.length === 0);
    return backend.makeTensorInfo(a.shape, 'bool', out);
  };
}

const greaterEqual = compare((a, b, out, scalar) => {
  if (scalar) {
    const s = b[0];
    for (let i = 0; i < out.length; i++) out[i] = a[i] >= s ? 1 : 0;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = a[i] >= b[i] ? 1 : 0;
  }
}, 'float32');

const lessEqual = compare((a, b, out, scalar) => {
  if (scalar) {
    const s = b[0];
    for (let i = 0; i < out.length; i++) out[i] = a[i] <= s ? 1 : 0;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = a[i] <= b[i] ? 1 : 0;
  }
}, 'float32');

const logicalAnd = compare((a, b, out, scalar) => {
  if (scalar) {
    const s = b[0];
    for (let i = 0; i < out.length; i++) out[i] = a[i] && s ? 1 : 0;
  } else {
    for (let i = 0; i < out.length; i++) out[i] = a[i] && b[i] ? 1 : 0;
  }
}, 'bool');

const clipByValue: KernelMaker = (fallback) => (args) => {
  const { x } = args.inputs as Infos;
  const size = tf.util.sizeFromShape(x.shape);
  if (x.dtype !== 'float32' || size < NATIVE_MIN_ELEMENTS) return fallback(args);
  const { clipValueMin: min, clipValueMax: max } = args.attrs as unknown as tf.ClipByValueAttrs;
  const backend = args.backend as NativeBackend;
  const xs = values(backend, x);
  const out = backend.allocate(tf.ClipByValue, x.shape, size);
  for (let i = 0; i < size; i++) {
    const v = xs[i];
    out[i] = v > max ? max : v < min ? min : v; // NaN stays NaN, as in the cpu kernel
  }
  return backend.makeTensorInfo(x.shape, 'float32', out);
};

const select: KernelMaker = (fallback) => (args) => {
  const { condition, t, e } = args.inputs as Infos;
  const size = tf.util.sizeFromShape(t.shape);
  if (condition.dtype !== 'bool' || t.dtype !== 'float32' || e.dtype !== 'float32' || size < NATIVE_MIN_ELEMENTS
    || !tf.util.arraysEqual(condition.shape, t.shape) || !tf.util.arraysEqual(t.shape, e.shape)) return fallback(args);
  const backend = args.backend as NativeBackend;
  const c = values(backend, condition);
  const ts = values(backend, t);
  const es = values(backend, e);
  const out = backend.allocate(tf.Select, t.shape, size);
  for (let i = 0; i < size; i++) out[i] = c[i] ? ts[i] : es[i];
  return backend.makeTensorInfo(t.shape, 'float32', out);
};

export const CLIP_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.ClipByValue, clipByValue],
  [tf.GreaterEqual, greaterEqual],
  [tf.LessEqual, lessEqual],
  [tf.LogicalAnd, logicalAnd],
  [tf.Select, select],
];
