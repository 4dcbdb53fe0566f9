import { Conv1D, Linear, setSeed, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, linearRef, matmul, setParameters, testValues } from '../helpers/reference';

describe('Linear', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('names parameters as PyTorch: weight [out, in], bias [out]', () => {
    const layer = new Linear(3, 2);
    expect([...layer.namedParameters()].map(([n, p]) => [n, p.shape])).toEqual([
      ['weight', [2, 3]],
      ['bias', [2]],
    ]);
    expect([...new Linear(3, 2, { bias: false }).namedParameters()].map(([n]) => n)).toEqual(['weight']);
    layer.dispose();
  });

  it('initialises like PyTorch: weight and bias in U(-1/√in, 1/√in), reproducible by seed', () => {
    setSeed(7);
    const a = new Linear(16, 32);
    setSeed(7);
    const b = new Linear(16, 32);
    const c = new Linear(16, 32);
    const w = a.weight.dataSync();
    const bound = 1 / Math.sqrt(16);
    expect(Math.max(...w)).toBeLessThanOrEqual(bound);
    expect(Math.min(...w)).toBeGreaterThanOrEqual(-bound);
    // 512 uniform draws reach near both ends of the interval.
    expect(Math.max(...w)).toBeGreaterThan(0.9 * bound);
    expect(Math.min(...w)).toBeLessThan(-0.9 * bound);
    expect(Math.max(...a.bias!.dataSync().map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Array.from(b.weight.dataSync())).toEqual(Array.from(w));
    expect(Array.from(c.weight.dataSync())).not.toEqual(Array.from(w));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('computes x·Wᵀ + b on a rank-3 input [batch, seq, in]', () => {
    const layer = new Linear(3, 2);
    const w = [1, 2, 3, -1, 0.5, 0];
    const b = [0.1, -0.2];
    setParameters(layer, { weight: w, bias: b });
    const x = testValues(2 * 4 * 3);
    const y = layer.forward(tf.tensor(x, [2, 4, 3]));
    expect(y.shape).toEqual([2, 4, 2]);
    // First row by hand: x0 = [0.389, 0.964, 0.808]
    expect(x.slice(0, 3)).toEqual([0.389, 0.964, 0.808]);
    // 0.389 + 2·0.964 + 3·0.808 + 0.1 and -0.389 + 0.5·0.964 + 0 - 0.2
    expectClose(y.dataSync().slice(0, 2), [4.841, -0.107]);
    expectClose(y.dataSync(), linearRef(x, w, b, 8, 3, 2));
    layer.dispose();
  });

  it('works without bias and on a rank-1 input', () => {
    const layer = new Linear(2, 2, { bias: false });
    setParameters(layer, { weight: [1, 2, 3, 4] });
    const y = layer.forward(tf.tensor1d([1, -1]));
    expect(y.shape).toEqual([2]);
    expectClose(y.dataSync(), [-1, -1]);
    layer.dispose();
  });

  it('rejects an input whose last dimension is not inFeatures', () => {
    const layer = new Linear(3, 2);
    expect(() => layer.forward(tf.zeros([2, 4]))).toThrow('Linear: input must have last dimension 3, got shape [2,4]');
    expect(() => new Linear(0, 2)).toThrow('Linear: inFeatures must be a positive integer, got 0');
    layer.dispose();
  });

  it('has gradients that match finite differences', () => {
    const layer = new Linear(3, 2);
    const x = tf.variable(tf.tensor(testValues(6, 1), [2, 3]));
    expectGradientsMatchFiniteDifferences(() => weightedSum(layer.forward(x)), [layer.weight, layer.bias!, x]);
    layer.dispose();
    x.dispose();
  });
});

describe('Conv1D (GPT-2)', () => {
  it('stores weight as [in, out] and computes x·W + b', () => {
    const layer = new Conv1D(2, 3); // nf = 2 outputs, nx = 3 inputs
    expect(layer.weight.shape).toEqual([3, 2]);
    expect(layer.bias.shape).toEqual([2]);
    const w = [1, -1, 2, 0.5, 3, 0];
    setParameters(layer, { weight: w, bias: [0.1, -0.2] });
    const x = testValues(2 * 2 * 3, 2);
    const y = layer.forward(tf.tensor(x, [2, 2, 3]));
    expect(y.shape).toEqual([2, 2, 2]);
    expectClose(y.dataSync(), matmul(x, w, 4, 3, 2).map((v, i) => v + [0.1, -0.2][i % 2]));
    expect(() => layer.forward(tf.zeros([1, 2]))).toThrow('Conv1D: input must have last dimension 3');
    layer.dispose();
  });

  it('has gradients that match finite differences', () => {
    const layer = new Conv1D(2, 3);
    const x = tf.variable(tf.tensor(testValues(6, 3), [2, 3]));
    expectGradientsMatchFiniteDifferences(() => weightedSum(layer.forward(x)), [layer.weight, layer.bias, x]);
    layer.dispose();
    x.dispose();
  });
});
