import { loadAddon, NATIVE_MIN_ELEMENTS } from '@leantune/native';
import { tf } from '@leantune/tensor';
import { CLIP_KERNELS } from '../src/clip-kernels';
import { useNativeBackend } from './counting-addon';
import { seededValues } from './reference';

// ClipByValue and its gradient's kernels (GreaterEqual, LessEqual, LogicalAnd, Select) on the
// native backend against tfjs's cpu backend: exact ops, so the values must be identical.
// The makers are called directly with a recording fallback to tell the loops from the cpu path.

const MAKERS = new Map(CLIP_KERNELS);
const BIG = [2, 33, 17]; // 1122 elements, above NATIVE_MIN_ELEMENTS
const SMALL = [3, 5];

beforeAll(() => useNativeBackend(loadAddon()));

/** Values in [-8, 8] with exact hits on the clip bounds 0 and 6 and a NaN. */
function floats(shape: number[], seed: number): Float32Array {
  const v = seededValues(tf.util.sizeFromShape(shape), seed).map((x) => Math.round(x * 16) / 2);
  v[0] = 0;
  v[1] = 6;
  if (v.length > 2) v[2] = NaN;
  return v;
}

function bools(shape: number[], seed: number): Uint8Array {
  return Uint8Array.from(seededValues(tf.util.sizeFromShape(shape), seed), (x) => (x > 0 ? 1 : 0));
}

interface Case {
  kernel: string;
  inputs: Record<string, { shape: number[]; values: Float32Array | Uint8Array; dtype: 'float32' | 'bool' }>;
  attrs?: Record<string, number>;
  native: boolean;
}

const f = (shape: number[], seed: number) => ({ shape, values: floats(shape, seed), dtype: 'float32' as const });
const b = (shape: number[], seed: number) => ({ shape, values: bools(shape, seed), dtype: 'bool' as const });
const scalarF = (v: number) => ({ shape: [], values: Float32Array.of(v), dtype: 'float32' as const });

const CASES: Case[] = [
  { kernel: tf.ClipByValue, inputs: { x: f(BIG, 1) }, attrs: { clipValueMin: 0, clipValueMax: 6 }, native: true },
  { kernel: tf.ClipByValue, inputs: { x: f(BIG, 2) }, attrs: { clipValueMin: -1.5, clipValueMax: 2.5 }, native: true },
  { kernel: tf.ClipByValue, inputs: { x: f(SMALL, 3) }, attrs: { clipValueMin: 0, clipValueMax: 6 }, native: false },
  { kernel: tf.GreaterEqual, inputs: { a: f(BIG, 4), b: scalarF(0) }, native: true },
  { kernel: tf.GreaterEqual, inputs: { a: f(BIG, 5), b: f(BIG, 6) }, native: true },
  { kernel: tf.GreaterEqual, inputs: { a: f(BIG, 7), b: f([33, 1], 8) }, native: false },
  { kernel: tf.GreaterEqual, inputs: { a: f(SMALL, 9), b: scalarF(0) }, native: false },
  { kernel: tf.LessEqual, inputs: { a: f(BIG, 10), b: scalarF(6) }, native: true },
  { kernel: tf.LessEqual, inputs: { a: f(BIG, 11), b: f(BIG, 12) }, native: true },
  { kernel: tf.LessEqual, inputs: { a: scalarF(1), b: f(BIG, 13) }, native: false },
  { kernel: tf.LogicalAnd, inputs: { a: b(BIG, 14), b: b(BIG, 15) }, native: true },
  { kernel: tf.LogicalAnd, inputs: { a: b(BIG, 16), b: { shape: [], values: Uint8Array.of(1), dtype: 'bool' } }, native: true },
  { kernel: tf.LogicalAnd, inputs: { a: b(SMALL, 17), b: b(SMALL, 18) }, native: false },
  { kernel: tf.Select, inputs: { condition: b(BIG, 19), t: f(BIG, 20), e: f(BIG, 21) }, native: true },
  { kernel: tf.Select, inputs: { condition: b([2], 22), t: f([2, 600], 23), e: f([2, 600], 24) }, native: false },
  { kernel: tf.Select, inputs: { condition: b(SMALL, 25), t: f(SMALL, 26), e: f(SMALL, 27) }, native: false },
];

function describeCase(c: Case): string {
  return `${c.kernel}(${Object.entries(c.inputs).map(([k, v]) => `${k}: ${v.dtype}[${v.shape}]`).join(', ')})`;
}

/** The kernel through tf.engine().runKernel on the active backend. */
function viaEngine(c: Case): { shape: number[]; dtype: string; values: number[] } {
  return tf.tidy(() => {
    const inputs = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tf.tensor(v.values.slice(), v.shape, v.dtype)]));
    const out = tf.engine().runKernel(c.kernel, inputs, (c.attrs ?? {}) as unknown as tf.NamedAttrMap) as tf.Tensor;
    return { shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) };
  });
}

describe('ClipByValue / GreaterEqual / LessEqual / LogicalAnd / Select on the native backend', () => {
  it('covers shapes the loops take and ones they leave to the cpu kernel', () => {
    expect(tf.util.sizeFromShape(BIG)).toBeGreaterThanOrEqual(NATIVE_MIN_ELEMENTS);
    expect(tf.util.sizeFromShape(SMALL)).toBeLessThan(NATIVE_MIN_ELEMENTS);
  });

  it.each(CASES.map((c) => [describeCase(c), c] as const))('%s equals the cpu backend', async (_name, c) => {
    await tf.setBackend('cpu');
    const want = viaEngine(c);
    await tf.setBackend('native');
    const got = viaEngine(c);
    expect(got).toEqual(want);
    // the maker itself: the loop, or the fallback it was given
    const fallback = jest.fn(() => ({ dataId: {}, shape: [], dtype: 'float32' }) as tf.TensorInfo);
    const kernel = MAKERS.get(c.kernel)!(fallback as unknown as tf.KernelFunc);
    const tensors = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tf.tensor(v.values.slice(), v.shape, v.dtype)]));
    const info = kernel({ inputs: tensors, attrs: (c.attrs ?? {}) as unknown as tf.NamedAttrMap, backend: tf.backend() }) as tf.TensorInfo;
    expect(fallback).toHaveBeenCalledTimes(c.native ? 0 : 1);
    if (c.native) {
      const out = tf.engine().makeTensorFromTensorInfo(info);
      expect({ shape: out.shape, dtype: out.dtype, values: Array.from(out.dataSync()) }).toEqual(want);
      out.dispose();
    }
    Object.values(tensors).forEach((t) => t.dispose());
  });

  it('gives clipByValue the gradient the cpu backend gives, bounds and NaN included', async () => {
    const grad = () => tf.tidy(() => {
      const x = tf.tensor(floats(BIG, 30), BIG);
      const dy = tf.tensor(seededValues(x.size, 31), BIG);
      return Array.from(tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(v, 0, 6), dy)))(x).dataSync());
    });
    await tf.setBackend('cpu');
    const want = grad();
    await tf.setBackend('native');
    expect(grad()).toEqual(want);
  });
});
