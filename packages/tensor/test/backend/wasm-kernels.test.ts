import { describeBackend, initBackend, tf, wasmTrainingKernelsInstalled } from '@leantune/tensor';
import { computeOn, expectNoWasmLeak, maxAbsDiff, randomTensor } from './wasm-helpers';

beforeAll(async () => {
  const info = await initBackend({ backend: 'wasm', threads: 2 });
  expect(info).toMatchObject({ name: 'wasm', threads: 2, simd: true });
});

afterAll(async () => {
  await tf.setBackend('cpu');
});

/** Same function, same inputs, cpu vs wasm-with-our-kernels. */
async function expectWasmMatchesCpu(fn: () => tf.Tensor, tolerance: number): Promise<void> {
  const cpu = await computeOn('cpu', fn);
  const wasm = await computeOn('wasm', fn);
  expect(wasm.shape).toEqual(cpu.shape);
  expect(wasm.dtype).toBe(cpu.dtype);
  expect(maxAbsDiff(wasm.values, cpu.values)).toBeLessThanOrEqual(tolerance);
}

describe('wasm backend for training', () => {
  it('runs with 2 threads and installs the training kernels', () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(describeBackend().text).toBe('backend wasm (simd, 2 threads)');
    expect(wasmTrainingKernelsInstalled()).toBe(true);
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  // Repeated ids, negative ids and ids >= numSegments (dropped, as the cpu kernel does).
  const ids = [3, 0, 3, -1, 2, 5, 0, 3, 7, -4, 2, 1];

  it('matches the cpu kernel on random data with repeated and out-of-range ids', async () => {
    await expectWasmMatchesCpu(() => tf.unsortedSegmentSum(randomTensor([12, 3, 2], 11), tf.tensor1d(ids, 'int32'), 5), 1e-6);
    await expectWasmMatchesCpu(() => tf.unsortedSegmentSum(randomTensor([12], 12), tf.tensor1d(ids, 'int32'), 4), 1e-6);
  });

  it('sums int32 rows into float32, as the cpu kernel does', async () => {
    const x = () => tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32');
    await expectWasmMatchesCpu(() => tf.unsortedSegmentSum(x(), tf.tensor1d([1, 1, 0], 'int32'), 2), 0);
    const wasm = await computeOn('wasm', () => tf.unsortedSegmentSum(x(), tf.tensor1d([1, 1, 0], 'int32'), 2));
    expect(wasm).toEqual({ shape: [2, 2], dtype: 'float32', values: [5, 6, 4, 6] });
  });

  it('makes the gather (embedding) gradient work', async () => {
    const gradOfGather = () => {
      const table = randomTensor([6, 4], 13);
      const weights = randomTensor([5, 4], 14);
      const indices = tf.tensor1d([4, 1, 4, 0, 4], 'int32');
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, indices), weights)))(table);
    };
    await expectWasmMatchesCpu(gradOfGather, 1e-6);
  });

  it('rejects ids that do not give one id per row', async () => {
    await tf.setBackend('wasm');
    expect(() => tf.unsortedSegmentSum(tf.ones([3, 2]), tf.tensor1d([0, 1], 'int32'), 2)).toThrow(
      'UnsortedSegmentSum (wasm): segmentIds must be 1-D with one id per row of x; got segmentIds [2] for x [3,2]',
    );
  });

  it('leaves no tensor behind', async () => {
    const x = randomTensor([12, 3], 15);
    const segmentIds = tf.tensor1d(ids, 'int32');
    await expectNoWasmLeak(() => tf.unsortedSegmentSum(x, segmentIds, 5).dispose());
    tf.dispose([x, segmentIds]);
  });
});

describe('BatchMatMul on wasm', () => {
  const transposes: [boolean, boolean][] = [[false, false], [true, false], [false, true], [true, true]];
  /** Operand shapes for a·b given logical [batch…, m, k] and [batch…, k, n]. */
  const operands = (batchA: number[], batchB: number[], m: number, k: number, n: number, ta: boolean, tb: boolean) => ({
    a: [...batchA, ...(ta ? [k, m] : [m, k])],
    b: [...batchB, ...(tb ? [n, k] : [k, n])],
  });
  const cases: [string, number[], number[], number, number, number][] = [
    ['2-D (folded into one XNNPACK product)', [], [], 37, 29, 41],
    ['batch x shared matrix (folded rows)', [2, 3], [], 9, 20, 11],
    ['batch > 1, large (one fast product per batch)', [3], [3], 40, 36, 44],
    ['batch > 1, tiny (stock loop once)', [4], [4], 5, 6, 7],
    ['broadcast batch of 1 against 3', [1], [3], 40, 33, 35],
    ['broadcast trailing batch [2,3] x [3]', [2, 3], [3], 4, 5, 6],
  ];

  for (const [label, batchA, batchB, m, k, n] of cases) {
    it.each(transposes)(`${label}: transposeA=%s transposeB=%s matches cpu`, async (ta, tb) => {
      const { a, b } = operands(batchA, batchB, m, k, n, ta, tb);
      await expectWasmMatchesCpu(() => tf.matMul(randomTensor(a, 21), randomTensor(b, 22), ta, tb), 2e-5);
    });
  }

  it('broadcasts two-sided batches [2,1] x [1,3] correctly', async () => {
    // The stock kernels (cpu included) mishandle this case; the reference broadcasts first.
    const a = () => randomTensor([2, 1, 8, 9], 23);
    const b = () => randomTensor([1, 3, 9, 7], 24);
    const reference = await computeOn('cpu', () => tf.matMul(tf.broadcastTo(a(), [2, 3, 8, 9]), tf.broadcastTo(b(), [2, 3, 9, 7])));
    const wasm = await computeOn('wasm', () => tf.matMul(a(), b()));
    expect(wasm.shape).toEqual([2, 3, 8, 7]);
    expect(maxAbsDiff(wasm.values, reference.values)).toBeLessThanOrEqual(1e-5);
  });

  it('leaves no tensor behind, on every path', async () => {
    const inputs = [randomTensor([3, 40, 36], 25), randomTensor([3, 36, 44], 26), randomTensor([2, 3, 4, 5], 27), randomTensor([3, 5, 6], 28)];
    const [a, b, c, d] = inputs;
    await expectNoWasmLeak(() => {
      tf.matMul(a, b, false, false).dispose();
      tf.matMul(b, a, true, true).dispose();
      tf.matMul(c, d).dispose();
      tf.tidy(() => tf.matMul(tf.reshape(a, [120, 36]), tf.reshape(b, [36, 132]), false, false)).dispose();
    });
    tf.dispose(inputs);
  });
});

describe('_FusedMatMul on wasm', () => {
  const fused = (activation: tf.fused.Activation, biasShape: number[] | null, ta: boolean, tb: boolean, batch: number[] = []) => () =>
    tf.fused.matMul({
      a: randomTensor([...batch, ...(ta ? [13, 10] : [10, 13])], 31),
      b: randomTensor(tb ? [12, 13] : [13, 12], 32),
      transposeA: ta,
      transposeB: tb,
      bias: biasShape == null ? undefined : randomTensor(biasShape, 33),
      activation,
      preluActivationWeights: activation === 'prelu' ? randomTensor([12], 34) : undefined,
      leakyreluAlpha: activation === 'leakyrelu' ? 0.3 : undefined,
    });

  it.each([
    ['relu, bias [n], plain', 'relu', [12], false, false, []],
    ['relu6, bias [n], transposed A (stock mis-adds this bias)', 'relu6', [12], true, false, []],
    ['linear, bias [n], batched A (stock mis-adds this bias)', 'linear', [12], false, true, [2]],
    ['linear, bias [m, n] (stock rejects rank-2 bias)', 'linear', [10, 12], true, true, []],
    ['sigmoid, no bias', 'sigmoid', null, false, false, [3]],
    ['elu, bias [n]', 'elu', [12], false, true, []],
    ['leakyrelu 0.3, bias [n]', 'leakyrelu', [12], true, false, []],
    ['prelu, bias [n]', 'prelu', [12], false, false, []],
  ] as [string, tf.fused.Activation, number[] | null, boolean, boolean, number[]][])('%s matches cpu', async (_, act, bias, ta, tb, batch) => {
    await expectWasmMatchesCpu(fused(act, bias, ta, tb, batch), 2e-5);
  });
});
