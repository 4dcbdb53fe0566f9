import { loadAddon } from '@leantune/native';
import { tf } from '@leantune/tensor';
import { countingAddon, useNativeBackend } from './counting-addon';
import { maxAbsDiff, seededValues } from './reference';

// Convolutions on the native backend against tfjs's cpu backend (its own loops): 1×1 stride-1
// ones and both their gradients are one GEMM each; any other one is im2col + one GEMM, and so are
// both its gradients (dW = patchesᵀ·dy, dx = col2im(dy·Wᵀ)). `gemms` counts the products that
// reached the addon per case: the forward runs twice (alone and under tf.grads), then the two
// gradients (dilated cases: the forward only, as @leantune/tensor's gradient refuses them).
interface Case {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides?: number | [number, number];
  pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
  dilations?: number | [number, number];
  gemms: number;
}

const CASES: Case[] = [
  { x: [1, 1, 1, 1], filter: [1, 1, 1, 1], pad: 'valid', gemms: 4 },
  { x: [2, 5, 7, 3], filter: [1, 1, 3, 4], pad: 'same', gemms: 4 },
  { x: [1, 3, 3, 17], filter: [1, 1, 17, 9], pad: 'valid', gemms: 4 },
  { x: [3, 9, 11, 33], filter: [1, 1, 33, 40], pad: 0, strides: [1, 1], gemms: 4 },
  { x: [2, 12, 12, 96], filter: [1, 1, 96, 24], pad: 'same', gemms: 4 },
  { x: [1, 7, 5, 8], filter: [1, 1, 8, 3], pad: [[0, 0], [0, 0], [0, 0], [0, 0]], gemms: 4 },
  { x: [2, 6, 6, 3], filter: [1, 1, 3, 4], pad: 'same', strides: 2, gemms: 4 },
  { x: [2, 7, 7, 3], filter: [1, 1, 3, 4], pad: 'valid', strides: [1, 2], gemms: 4 },
  { x: [1, 5, 5, 2], filter: [3, 3, 2, 3], pad: 'same', gemms: 4 },
  { x: [1, 5, 6, 2], filter: [1, 1, 2, 3], pad: 'valid', dilations: 2, gemms: 1 },
  { x: [1, 9, 9, 3], filter: [3, 3, 3, 2], pad: 'valid', dilations: [2, 1], gemms: 1 },
  { x: [2, 9, 9, 3], filter: [3, 3, 3, 8], pad: 'same', strides: 2, gemms: 4 },
  { x: [1, 6, 7, 5], filter: [3, 3, 5, 4], pad: 'valid', gemms: 4 },
  { x: [1, 5, 3, 2], filter: [2, 3, 2, 3], pad: 'same', strides: [2, 1], gemms: 4 },
  { x: [2, 4, 4, 3], filter: [3, 3, 3, 2], pad: 1, gemms: 4 },
  { x: [3, 16, 16, 3], filter: [3, 3, 3, 32], pad: 'same', strides: 2, gemms: 4 },
  { x: [1, 4, 4, 2], filter: [1, 1, 2, 3], pad: [[0, 0], [1, 1], [1, 0], [0, 0]], gemms: 4 },
  // MobileNetV2's stem at batch 2, 48 px: its filter gradient is what full fine-tuning waited on.
  { x: [2, 48, 48, 3], filter: [3, 3, 3, 32], pad: 'same', strides: 2, gemms: 4 },
  { x: [1, 7, 7, 4], filter: [5, 5, 4, 6], pad: 'same', strides: 3, gemms: 4 },
  { x: [2, 8, 8, 3], filter: [4, 4, 3, 5], pad: 'valid', strides: 4, gemms: 4 },
];

interface Result {
  y: Float32Array;
  dx: Float32Array;
  dw: Float32Array;
  shapes: number[][];
}

/**
 * y = conv2d(x, w) and the gradients of Σ y·r (r seeded), so dy = r reaches both backprops
 * (@leantune/tensor's conv gradient refuses dilations: there only the forward).
 */
function run(c: Case): Result {
  return tf.tidy(() => {
    const x = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.x), 11), c.x);
    const w = tf.tensor4d(seededValues(tf.util.sizeFromShape(c.filter), 12), c.filter);
    const conv = (a: tf.Tensor4D, b: tf.Tensor4D) => tf.conv2d(a, b, c.strides ?? 1, c.pad, 'NHWC', c.dilations ?? 1);
    const y = conv(x, w);
    if (c.dilations != null) return { y: y.dataSync() as Float32Array, dx: new Float32Array(0), dw: new Float32Array(0), shapes: [y.shape] };
    const r = tf.tensor(seededValues(y.size, 13), y.shape);
    const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a as tf.Tensor4D, b as tf.Tensor4D), r)))([x, w]);
    return {
      y: y.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array, dw: dw.dataSync() as Float32Array,
      shapes: [y.shape, dx.shape, dw.shape],
    };
  });
}

function relDiff(got: Float32Array, want: Float32Array): number {
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0) || 1;
  return maxAbsDiff(got, want) / scale;
}

const counted = countingAddon(loadAddon());
beforeAll(() => useNativeBackend(counted.addon));

describe('Conv2D / Conv2DBackpropInput / Conv2DBackpropFilter on the native backend', () => {
  it.each(CASES.map((c) => [`x [${c.x}] filter [${c.filter}] pad ${JSON.stringify(c.pad)} strides ${JSON.stringify(c.strides ?? 1)} dilations ${JSON.stringify(c.dilations ?? 1)}`, c] as const))(
    '%s equals the cpu backend',
    async (_name, c) => {
      await tf.setBackend('cpu');
      const want = run(c);
      await tf.setBackend('native');
      const before = counted.callsOf('matmul');
      const got = run(c);
      expect(counted.callsOf('matmul') - before).toBe(c.gemms);
      expect(got.shapes).toEqual(want.shapes);
      expect(relDiff(got.y, want.y)).toBeLessThanOrEqual(1e-4);
      expect(relDiff(got.dx, want.dx)).toBeLessThanOrEqual(1e-4);
      expect(relDiff(got.dw, want.dw)).toBeLessThanOrEqual(1e-4);
    },
  );

  it('computes a batch with an empty spatial extent as an empty output and zero filter gradient', async () => {
    await tf.setBackend('native');
    const { y, dw } = tf.tidy(() => {
      const x = tf.zeros([2, 0, 3, 4]) as tf.Tensor4D;
      const w = tf.tensor4d(seededValues(8, 3), [1, 1, 4, 2]);
      const [, g] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')))([x, w]);
      return { y: tf.conv2d(x, w, 1, 'same').shape, dw: Array.from(g.dataSync()) };
    });
    expect(y).toEqual([2, 0, 3, 2]);
    expect(dw).toEqual(new Array(8).fill(0));
  });

  it('gives a 3×3 stride-2 convolution of an empty batch an empty output and a zero filter gradient', async () => {
    await tf.setBackend('native');
    const { y, dw } = tf.tidy(() => {
      const x = tf.zeros([0, 6, 6, 2]) as tf.Tensor4D;
      const w = tf.tensor4d(seededValues(36, 4), [3, 3, 2, 2]);
      const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
      const [, g] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(conv(a, b)))([x, w]);
      return { y: conv(x, w).shape, dw: Array.from(g.dataSync()) };
    });
    expect(y).toEqual([0, 3, 3, 2]);
    expect(dw).toEqual(new Array(36).fill(0));
  });
});
