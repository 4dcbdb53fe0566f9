import { tf } from '@leantune/tensor';
import { loadAddon } from '@leantune/native';
import { DEPTHWISE_KERNELS } from '../src/depthwise-kernels';
import { useNativeBackend } from './counting-addon';
import { maxAbsDiff, seededValues } from './reference';

// Depthwise convolution and both its gradients on the native backend (JS loops) against tfjs's
// cpu backend; the makers are also called with a recording fallback to tell the loops from the
// cpu path (multiplier > 1, dilations).
type Pad = 'same' | 'valid' | number;
interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: Pad;
  dilations?: number;
  native: boolean;
}

const CASES: Case[] = [
  { x: [1, 1, 1, 1], filter: [1, 1, 1, 1], strides: 1, pad: 'valid', native: true },
  { x: [2, 5, 7, 3], filter: [3, 3, 3, 1], strides: 1, pad: 'same', native: true },
  { x: [1, 6, 6, 4], filter: [3, 3, 4, 1], strides: 2, pad: 'same', native: true },
  { x: [3, 7, 9, 5], filter: [3, 3, 5, 1], strides: 2, pad: 'same', native: true },
  { x: [2, 8, 7, 6], filter: [3, 3, 6, 1], strides: 2, pad: 'valid', native: true },
  { x: [1, 9, 8, 2], filter: [5, 3, 2, 1], strides: [2, 1], pad: 'same', native: true },
  { x: [2, 5, 5, 3], filter: [3, 3, 3, 1], strides: 1, pad: 1, native: true },
  { x: [2, 12, 12, 32], filter: [3, 3, 32, 1], strides: 1, pad: 'same', native: true },
  { x: [1, 5, 5, 2], filter: [3, 3, 2, 2], strides: 1, pad: 'same', native: false },
  { x: [1, 7, 7, 2], filter: [3, 3, 2, 1], strides: 1, pad: 'valid', dilations: 2, native: false },
];

interface Result {
  y: Float32Array;
  dx?: Float32Array;
  dw?: Float32Array;
  shapes: number[][];
}

/** y and the gradients of Σ y·r, r seeded (@leantune/tensor's gradient refuses dilations: forward only there). */
function run(c: Case): Result {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.x), 41), c.x);
    const w = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.filter), 42), c.filter);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.depthwiseConv2d(a, b, c.strides, c.pad, 'NHWC', c.dilations ?? 1);
    const y = conv(x, w);
    if (c.dilations != null) return { y: y.dataSync() as Float32Array, shapes: [y.shape] };
    const r = tf.tensor(seededValues(y.size, 43), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return { y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array, shapes: [y.shape, dx.shape, dw.shape] };
  });
}

function relDiff(got: Float32Array | undefined, want: Float32Array | undefined): number {
  if (got == null || want == null) return got == want ? 0 : Infinity;
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  return maxAbsDiff(got, want) / scale;
}

const MAKERS = new Map(DEPTHWISE_KERNELS);

/** Which of the three makers took their fallback for this case. */
function fallbacksTaken(c: Case): number {
  const attrs = { strides: c.strides, pad: c.pad, dilations: c.dilations ?? 1, dataFormat: 'NHWC' };
  const y = tf.tidy(() => tf.depthwiseConv2d(tf.zeros(c.x) as tf.Tensor4D, tf.zeros(c.filter) as tf.Tensor4D, c.strides, c.pad, 'NHWC', c.dilations ?? 1));
  const x = tf.zeros(c.x);
  const w = tf.zeros(c.filter);
  const dy = tf.zerosLike(y);
  const fallback = jest.fn(() => ({ dataId: {}, shape: [], dtype: 'float32' }) as tf.TensorInfo);
  const kernel = (name: string) => MAKERS.get(name)!(fallback as unknown as tf.KernelFunc);
  const outs = [
    kernel(tf.DepthwiseConv2dNative)({ inputs: { x, filter: w }, attrs: attrs as unknown as tf.NamedAttrMap, backend: tf.backend() }),
    kernel(tf.DepthwiseConv2dNativeBackpropInput)({ inputs: { dy, filter: w }, attrs: { ...attrs, inputShape: c.x } as unknown as tf.NamedAttrMap, backend: tf.backend() }),
    kernel(tf.DepthwiseConv2dNativeBackpropFilter)({ inputs: { x, dy }, attrs: { ...attrs, filterShape: c.filter } as unknown as tf.NamedAttrMap, backend: tf.backend() }),
  ] as tf.TensorInfo[];
  for (const info of outs) if (tf.backend().refCount(info.dataId) > 0) tf.backend().disposeData(info.dataId, true);
  [x, w, y, dy].forEach((t) => t.dispose());
  return fallback.mock.calls.length;
}

beforeAll(() => useNativeBackend(loadAddon()));

describe('DepthwiseConv2dNative and its two gradients on the native backend', () => {
  it.each(CASES.map((c) => [`x [${c.x}] filter [${c.filter}] strides ${JSON.stringify(c.strides)} pad ${c.pad} dilations ${c.dilations ?? 1}`, c] as const))(
    '%s equals the cpu backend',
    async (_name, c) => {
      await tf.setBackend('cpu');
      const want = run(c);
      await tf.setBackend('native');
      const got = run(c);
      expect(got.shapes).toEqual(want.shapes);
      expect(relDiff(got.y, want.y)).toBeLessThanOrEqual(1e-4);
      expect(relDiff(got.dx, want.dx)).toBeLessThanOrEqual(1e-4);
      expect(relDiff(got.dw, want.dw)).toBeLessThanOrEqual(1e-4);
      expect(fallbacksTaken(c)).toBe(c.native ? 0 : 3);
    },
  );
});
