import { loadAddon, NATIVE_KERNEL_NAMES, registerNativeKernels } from '@leantune/native';
import { countingAddon, useNativeBackend } from './counting-addon';
import { FUSED_KERNELS, tf } from '@leantune/tensor';
import { maxAbsDiff, seededValues } from './reference';

// The native backend's matmuls against tfjs's cpu backend, an implementation that shares
// nothing with ours (its own loops). The cpu kernel returns too
// few values for two-sided batch broadcasting ([2,1]·[1,5]), so its operands are first
// broadcast explicitly (tf.broadcastTo, a plain tile on cpu).
interface Case {
  a: number[];
  b: number[];
  transposeA?: boolean;
  transposeB?: boolean;
}

const CASES: Case[] = [
  { a: [3, 5], b: [5, 4] },
  { a: [5, 3], b: [5, 4], transposeA: true },
  { a: [3, 5], b: [4, 5], transposeB: true },
  { a: [5, 3], b: [4, 5], transposeA: true, transposeB: true },
  { a: [2, 4, 17, 9], b: [2, 4, 17, 9], transposeB: true },
  { a: [2, 4, 17, 17], b: [2, 4, 17, 9] },
  { a: [2, 1, 3, 4], b: [1, 5, 4, 6] },
  { a: [6, 129, 16], b: [16, 33] },
  { a: [1, 7, 1], b: [3, 1, 7] },
  { a: [4, 0], b: [0, 3] },
  { a: [0, 2, 3], b: [0, 3, 2] },
];

let seed = 1;
function tensorOf(shape: number[]): tf.Tensor {
  return tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed++), shape);
}

async function on<T>(backend: string, fn: () => T): Promise<T> {
  await tf.setBackend(backend);
  return fn();
}

function describeCase(c: Case): string {
  return `[${c.a}]${c.transposeA ? 'ᵀ' : ''}·[${c.b}]${c.transposeB ? 'ᵀ' : ''}`;
}

// Counts the products that reached the addon, to tell the native path from a fallback.
const counted = countingAddon(loadAddon());

beforeAll(() => useNativeBackend(counted.addon));

describe('native BatchMatMul / _FusedMatMul on the native backend', () => {
  it.each(CASES.map((c) => [describeCase(c), c] as const))('%s equals the cpu backend', async (_name, c) => {
    const values = [seededValues(tf.util.sizeFromShape(c.a), seed++), seededValues(tf.util.sizeFromShape(c.b), seed++)];
    const batch = tf.backend_util.assertAndGetBroadcastShape(c.a.slice(0, -2), c.b.slice(0, -2));
    const operand = (i: number, shape: number[], explicit: boolean): tf.Tensor => {
      const x = tf.tensor(values[i], shape);
      return explicit && batch.length > 0 ? tf.broadcastTo(x, [...batch, ...shape.slice(-2)]) : x;
    };
    const run = (explicit: boolean) => (): { shape: number[]; values: Float32Array } => {
      const out = tf.tidy(() => tf.matMul(operand(0, c.a, explicit), operand(1, c.b, explicit), c.transposeA, c.transposeB));
      const result = { shape: out.shape, values: out.dataSync() as Float32Array };
      out.dispose();
      return result;
    };
    const calls = counted.calls();
    const ours = await on('native', run(false));
    const empty = ours.values.length === 0;
    expect(counted.calls() - calls).toBe(empty ? 0 : 1);
    const reference = await on('cpu', run(true));
    expect(ours.shape).toEqual(reference.shape);
    expect(maxAbsDiff(ours.values, reference.values)).toBeLessThan(1e-5);
  });

  it('fuses a bias and relu/elu/sigmoid/leakyrelu, and hands prelu and other biases to the cpu kernel', async () => {
    const specs: Array<{ activation: tf.fused.Activation; bias: number[]; prelu?: boolean }> = [
      { activation: 'relu', bias: [6] },
      { activation: 'elu', bias: [6] },
      { activation: 'sigmoid', bias: [6] },
      { activation: 'leakyrelu', bias: [6] },
      { activation: 'linear', bias: [4, 6] },
      { activation: 'relu', bias: [1, 6] },
      { activation: 'prelu', bias: [6], prelu: true },
    ];
    const a = seededValues(2 * 4 * 5, 91);
    const b = seededValues(6 * 5, 92);
    for (const spec of specs) {
      const run = (): Float32Array => {
        const out = tf.tidy(() => {
          const bias = tf.tensor(seededValues(tf.util.sizeFromShape(spec.bias), 93), spec.bias);
          const preluActivationWeights = spec.prelu ? tf.tensor1d(seededValues(6, 94)) : undefined;
          return tf.fused.matMul({
            a: tf.tensor(a, [2, 4, 5]), b: tf.tensor(b, [6, 5]), transposeB: true, bias, activation: spec.activation, preluActivationWeights, leakyreluAlpha: 0.1,
          });
        });
        const values = out.dataSync() as Float32Array;
        out.dispose();
        return values;
      };
      const calls = counted.calls();
      const ours = await on('native', run);
      const native = counted.calls() > calls;
      const diff = maxAbsDiff(ours, await on('cpu', run));
      const expectNative = !spec.prelu && tf.util.sizeFromShape(spec.bias) === 6;
      expect({ activation: spec.activation, close: diff < 1e-5, native }).toEqual({ activation: spec.activation, close: true, native: expectNative });
    }
  });

  it('leaves int32 products to the cpu kernel and leaks no tensor or buffer', async () => {
    await tf.setBackend('native');
    const calls = counted.calls();
    const ints = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor2d([5, 6, 7, 8], [2, 2], 'int32')));
    expect(Array.from(ints.dataSync())).toEqual([19, 22, 43, 50]);
    ints.dispose();
    expect(counted.calls()).toBe(calls);
    const tensors = tf.memory().numTensors;
    const buffers = tf.backend().numDataIds();
    tf.tidy(() => {
      tf.matMul(tensorOf([3, 8, 9]), tensorOf([3, 8, 9]), false, true);
      tf.fused.matMul({ a: tensorOf([5, 9]), b: tensorOf([9, 2]), bias: tensorOf([2]), activation: 'relu' });
    });
    expect(() => tf.tidy(() => tf.matMul(tensorOf([2, 3]), tensorOf([4, 5])))).toThrow();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.backend().numDataIds()).toBe(buffers);
  });

  it('registers every cpu kernel for native, once, plus the fused ones; the hot ones are the addon\'s', () => {
    const cpu = tf.getKernelsForBackend('cpu').map((k) => k.kernelName);
    const native = tf.getKernelsForBackend('native').map((k) => k.kernelName).sort();
    expect(native).toEqual([...cpu, ...Object.values(FUSED_KERNELS)].sort());
    expect(registerNativeKernels()).toEqual([]);
    expect(NATIVE_KERNEL_NAMES).toEqual(expect.arrayContaining([tf.BatchMatMul, tf._FusedMatMul, tf.Softmax, tf.Transpose, tf.GatherV2, tf.UnsortedSegmentSum, tf.Add, tf.Sum]));
  });
});
