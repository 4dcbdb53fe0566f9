import {
  BINARY_CODES, loadAddon, NATIVE_MIN_ELEMENTS, REDUCE_CODES, reductionView, stridedBinary, UNARY_CODES,
  
} from '@leantune/native';
import { countingAddon, useNativeBackend } from './counting-addon';
import { tf } from '@leantune/tensor';
import { maxAbsDiff, seededValues } from './reference';

// Native elementwise ops, reductions and softmax against tfjs's cpu backend. Shapes
// are above NATIVE_MIN_ELEMENTS (else the cpu kernel runs), and each case also asserts
// that the addon computed it.
const counted = countingAddon(loadAddon());

beforeAll(() => useNativeBackend(counted.addon));

/** Runs `fn` on native and on cpu; returns both outputs and whether the addon ran. */
async function both(fn: () => tf.Tensor): Promise<{ ours: Float32Array; reference: Float32Array; shape: number[]; referenceShape: number[]; native: boolean }> {
  const read = (): { values: Float32Array; shape: number[] } => {
    const out = tf.tidy(fn);
    const result = { values: out.dataSync() as Float32Array, shape: out.shape };
    out.dispose();
    return result;
  };
  await tf.setBackend('native');
  const calls = counted.calls();
  const ours = read();
  const native = counted.calls() > calls;
  await tf.setBackend('cpu');
  const reference = read();
  return { ours: ours.values, reference: reference.values, shape: ours.shape, referenceShape: reference.shape, native };
}

/** Scaled in JS, so that making an input runs no kernel of ours. */
const t = (shape: number[], seed: number, scale = 1): tf.Tensor => tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed).map((v) => v * scale), shape);

describe('native elementwise kernels', () => {
  const BINARY: Array<[keyof typeof BINARY_CODES, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor]> = [
    ['Add', tf.add], ['Sub', tf.sub], ['Multiply', tf.mul], ['RealDiv', tf.div], ['Maximum', tf.maximum], ['Minimum', tf.minimum],
    ['SquaredDifference', tf.squaredDifference], ['Pow', (a, b) => tf.pow(tf.abs(a), b)],
  ];
  const SHAPES: Array<[number[], number[]]> = [
    [[8, 16, 24], [8, 16, 24]], [[8, 16, 24], [24]], [[8, 16, 24], [8, 16, 1]], [[8, 1, 24], [1, 16, 1]], [[3072], []], [[], [48, 64]],
  ];
  it.each(BINARY)('%s broadcasts like the cpu backend', async (_name, op) => {
    for (const [aShape, bShape] of SHAPES) {
      const r = await both(() => op(t(aShape, 1), t(bShape, 2, 2)));
      expect({ aShape, bShape, shape: r.shape, native: r.native }).toEqual({ aShape, bShape, shape: r.referenceShape, native: true });
      expect(maxAbsDiff(r.ours, r.reference)).toBeLessThan(1e-5);
    }
  });

  it('Pow with exponents 2, 3, 0.5 and 1.7 matches the cpu backend', async () => {
    for (const e of [2, 3, 0.5, 1.7]) {
      const r = await both(() => tf.pow(tf.abs(t([40, 50], 3, 3)), e));
      expect(r.native).toBe(true);
      expect(maxAbsDiff(r.ours, r.reference) / 27).toBeLessThan(1e-6);
    }
  });

  it.each(Object.keys(UNARY_CODES))('%s matches the cpu backend to float precision', async (name) => {
    const op = { Square: tf.square, Sqrt: tf.sqrt, Rsqrt: tf.rsqrt, Exp: tf.exp, Log: tf.log, Tanh: tf.tanh, Neg: tf.neg, Sigmoid: tf.sigmoid, Abs: tf.abs, Relu: tf.relu, Floor: tf.floor }[name]!;
    // Values over [-30, 30], including the small ones where tanh switches formula; positive for sqrt/log.
    const positive = ['Sqrt', 'Rsqrt', 'Log'].includes(name);
    const r = await both(() => op(positive ? tf.add(tf.abs(t([4096], 4, 30)), 1e-3) : t([4096], 4, 30)));
    expect(r.native).toBe(true);
    let worst = 0;
    for (let i = 0; i < r.ours.length; i++) worst = Math.max(worst, Math.abs(r.ours[i] - r.reference[i]) / Math.max(1e-30, Math.abs(r.reference[i])));
    expect(worst).toBeLessThan(2e-6);
  });

  it('exp and tanh keep their limits: overflow to Inf, underflow to 0, saturate, pass NaN', async () => {
    const values = [0, 1e-8, 88.7, 89, -88, -1e9, Infinity, -Infinity, NaN];
    const input = (): tf.Tensor => tf.tile(tf.tensor1d(values), [128]);
    const exp = (await both(() => tf.exp(input()))).ours.slice(0, values.length);
    expect(Array.from(exp.slice(0, 2))).toEqual([1, 1]);
    expect(exp[2] / 1e38).toBeCloseTo(Math.exp(Math.fround(88.7)) / 1e38, 5);
    expect(Array.from(exp.slice(3))).toEqual([Infinity, 0, 0, Infinity, 0, NaN]);
    const tanh = (await both(() => tf.tanh(input()))).ours.slice(0, values.length);
    expect(Array.from(tanh)).toEqual([0, Math.fround(1e-8), 1, 1, -1, -1, 1, -1, NaN]);
  });

  it.each(Object.keys(REDUCE_CODES))('%s over contiguous axes matches the cpu backend, keepDims or not', async (name) => {
    const op = { Sum: tf.sum, Mean: tf.mean, Max: tf.max, Min: tf.min }[name]!;
    const cases: Array<[number | number[] | undefined, boolean]> = [[0, false], [2, true], [[1, 2], false], [undefined, false], [-1, false]];
    for (const [axis, keepDims] of cases) {
      const r = await both(() => op(t([16, 12, 24], 5), axis, keepDims));
      expect({ axis, shape: r.shape, native: r.native }).toEqual({ axis, shape: r.referenceShape, native: true });
      expect(maxAbsDiff(r.ours, r.reference)).toBeLessThan(1e-4);
    }
    // Scattered axes go to the cpu kernel, with the same result.
    const scattered = await both(() => op(t([16, 12, 24], 6), [0, 2]));
    expect(scattered.native).toBe(false);
    expect(maxAbsDiff(scattered.ours, scattered.reference)).toBeLessThan(1e-4);
  });

  it('Softmax over the last axis matches the cpu backend, and other axes go to the cpu kernel', async () => {
    const r = await both(() => tf.softmax(t([8, 4, 16, 40], 14, 20)));
    expect(r.native).toBe(true);
    expect(r.shape).toEqual([8, 4, 16, 40]);
    expect(maxAbsDiff(r.ours, r.reference)).toBeLessThan(1e-6);
    // Rows sum to 1, and a row of huge logits does not overflow.
    const big = await both(() => tf.softmax(tf.add(t([64, 32], 15), tf.tensor2d([[1e4, ...new Array(31).fill(0)]]))));
    expect(big.native).toBe(true);
    expect(maxAbsDiff(big.ours, big.reference)).toBeLessThan(1e-6);
    expect(big.ours.slice(0, 32).reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
    const small = await both(() => tf.softmax(t([4, 8], 16)));
    expect(small.native).toBe(false);
    expect(maxAbsDiff(small.ours, small.reference)).toBeLessThan(1e-6);
  });

  it('splits tensors of 4M+ elements across threads with the same results', async () => {
    // Checked against plain JS loops: the cpu backend takes tens of seconds at this size.
    const [rows, cols] = [2048, 2049];
    const x = seededValues(rows * cols, 12);
    const bias = seededValues(cols, 13);
    await tf.setBackend('native');
    const calls = counted.calls();
    // Tensors out of tidy, data read after: tidy walks every element of what it returns.
    const outputs = tf.tidy(() => {
      const big = tf.tensor2d(x, [rows, cols]);
      return [tf.sum(big, 0), tf.tanh(big), tf.add(big, tf.tensor1d(bias))];
    });
    const [sum, tanh, added] = outputs.map((r) => r.dataSync() as Float32Array);
    tf.dispose(outputs);
    expect(counted.calls() - calls).toBe(3);
    const columnSums = new Float64Array(cols);
    for (let i = 0; i < x.length; i++) columnSums[i % cols] += x[i];
    expect(maxAbsDiff(sum, columnSums)).toBeLessThan(1e-3);
    let tanhDiff = 0;
    let addDiff = 0;
    for (let i = 0; i < x.length; i += 7) {
      tanhDiff = Math.max(tanhDiff, Math.abs(tanh[i] - Math.tanh(x[i])));
      addDiff = Math.max(addDiff, Math.abs(added[i] - Math.fround(x[i] + bias[i % cols])));
    }
    expect(tanhDiff).toBeLessThan(1e-6);
    expect(addDiff).toBe(0);
  });

  it('leaves small tensors and int32 to the cpu kernels, and leaks nothing', async () => {
    const small = await both(() => tf.mul(t([NATIVE_MIN_ELEMENTS - 1], 7), 2));
    expect(small.native).toBe(false);
    const ints = await both(() => tf.add(tf.range(0, 4096, 1, 'int32'), tf.scalar(3, 'int32')));
    expect(ints.native).toBe(false);
    expect(ints.ours[4095]).toBe(4098);
    await tf.setBackend('native');
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    tf.tidy(() => {
      tf.add(t([64, 64], 8), t([64], 9));
      tf.tanh(t([4096], 10));
      tf.sum(t([64, 64], 11), 0);
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });
});

describe('broadcast index arithmetic', () => {
  it('merges axes that walk memory alike and marks broadcast axes with stride 0', () => {
    expect(stridedBinary([8, 16, 24], [8, 16, 24], [8, 16, 24])).toEqual({ shape: Int32Array.of(3072), aStrides: Int32Array.of(1), bStrides: Int32Array.of(1) });
    expect(stridedBinary([8, 16, 24], [24], [8, 16, 24])).toEqual({ shape: Int32Array.of(128, 24), aStrides: Int32Array.of(24, 1), bStrides: Int32Array.of(0, 1) });
    expect(stridedBinary([8, 16, 24], [8, 16, 1], [8, 16, 24])).toEqual({ shape: Int32Array.of(128, 24), aStrides: Int32Array.of(24, 1), bStrides: Int32Array.of(1, 0) });
    expect(stridedBinary([], [], [])).toEqual({ shape: Int32Array.of(1), aStrides: Int32Array.of(0), bStrides: Int32Array.of(0) });
  });

  it('views a reduction over one run of axes as [outer, reduce, inner]', () => {
    expect(reductionView([4, 5, 6, 7], [1, 2])).toEqual({ outer: 4, reduce: 30, inner: 7 });
    expect(reductionView([4, 1, 6], [0, 2])).toEqual({ outer: 1, reduce: 24, inner: 1 });
    expect(reductionView([4, 5, 6], [0, 2])).toBeNull();
    expect(reductionView([4, 5], [])).toEqual({ outer: 20, reduce: 1, inner: 1 });
  });
});
