import { BatchNorm, LayerNorm, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose, setParameters, testValues } from '../helpers/reference';

/** Per-row normalisation over the last axis, in plain JS. */
function layerNormRef(x: number[], dim: number, w: number[], b: number[], eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / dim; r++) {
    const row = x.slice(r * dim, (r + 1) * dim);
    const mean = row.reduce((s, v) => s + v, 0) / dim;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / dim;
    row.forEach((v, i) => out.push(((v - mean) / Math.sqrt(variance + eps)) * w[i] + b[i]));
  }
  return out;
}

/** Per-channel mean and biased/unbiased variance over all rows of a channels-last array. */
function channelStats(x: number[], c: number): { mean: number[]; biased: number[]; unbiased: number[] } {
  const n = x.length / c;
  const mean = Array.from({ length: c }, (_, j) => x.filter((_, i) => i % c === j).reduce((s, v) => s + v, 0) / n);
  const ss = Array.from({ length: c }, (_, j) => x.filter((_, i) => i % c === j).reduce((s, v) => s + (v - mean[j]) ** 2, 0));
  return { mean, biased: ss.map((s) => s / n), unbiased: ss.map((s) => s / (n - 1)) };
}

describe('LayerNorm', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('normalises the last axis; weight = ones and bias = zeros by default', () => {
    const ln = new LayerNorm(3);
    expect(Array.from(ln.getParameter('weight').variable.dataSync())).toEqual([1, 1, 1]);
    expect(Array.from(ln.getParameter('bias').variable.dataSync())).toEqual([0, 0, 0]);
    // Row [1, 2, 3]: mean 2, variance 2/3 → [-1, 0, 1]/√(2/3 + 1e-5)
    const y = ln.forward(tf.tensor2d([[1, 2, 3]]));
    const s = 1 / Math.sqrt(2 / 3 + 1e-5);
    expectClose(y.dataSync(), [-s, 0, s]);
    ln.dispose();
  });

  it('applies weight and bias on a [b, s, d] input', () => {
    const ln = new LayerNorm(4, { eps: 1e-3 });
    const w = [1, 2, -1, 0.5];
    const b = [0, 0.1, 0.2, -0.3];
    setParameters(ln, { weight: w, bias: b });
    const x = testValues(2 * 3 * 4, 4);
    const y = ln.forward(tf.tensor(x, [2, 3, 4]));
    expect(y.shape).toEqual([2, 3, 4]);
    expectClose(y.dataSync(), layerNormRef(x, 4, w, b, 1e-3), 1e-4);
    ln.dispose();
  });

  it('without elementwiseAffine has no parameters', () => {
    const ln = new LayerNorm(2, { elementwiseAffine: false });
    expect([...ln.namedParameters()]).toEqual([]);
    expectClose(ln.forward(tf.tensor2d([[0, 4]])).dataSync(), [-2 / Math.sqrt(4 + 1e-5), 2 / Math.sqrt(4 + 1e-5)]);
    expect(() => ln.forward(tf.zeros([2, 3]))).toThrow('LayerNorm: input must have last dimension 2, got shape [2,3]');
  });

  it('has gradients that match finite differences', () => {
    const ln = new LayerNorm(4);
    setParameters(ln, { weight: [1, 2, -1, 0.5], bias: [0, 0.1, 0.2, -0.3] });
    const x = tf.variable(tf.tensor(testValues(8, 5), [2, 4]));
    const params = [ln.getParameter('weight').variable, ln.getParameter('bias').variable, x];
    expectGradientsMatchFiniteDifferences(() => weightedSum(ln.forward(x)), params);
    ln.dispose();
    x.dispose();
  });
});

describe('BatchNorm (channels last)', () => {
  const x = testValues(2 * 2 * 2 * 3, 6); // NHWC [2, 2, 2, 3]: 8 values per channel

  it('registers running_mean and running_var as non-trainable parameters in the stateDict', () => {
    const bn = new BatchNorm(3);
    expect([...bn.stateDict().keys()]).toEqual(['weight', 'bias', 'running_mean', 'running_var']);
    expect(bn.countParameters()).toEqual({ total: 12, trainable: 6 });
    expect([...bn.trainableVariables().keys()]).toEqual(['weight', 'bias']);
    bn.dispose();
  });

  it('normalises with batch statistics in training and updates the running stats', () => {
    const bn = new BatchNorm(3, { momentum: 0.1, eps: 1e-5 });
    const w = [1, 2, 0.5];
    const b = [0, -1, 0.25];
    setParameters(bn, { weight: w, bias: b, running_mean: [0, 0, 0], running_var: [1, 1, 1] });
    const y = bn.forward(tf.tensor(x, [2, 2, 2, 3]));
    const { mean, biased, unbiased } = channelStats(x, 3);
    expectClose(y.dataSync(), x.map((v, i) => ((v - mean[i % 3]) / Math.sqrt(biased[i % 3] + 1e-5)) * w[i % 3] + b[i % 3]), 1e-4);
    // PyTorch: running = (1 - m)·running + m·batch, with the unbiased batch variance.
    expectClose(bn.getParameter('running_mean').variable.dataSync(), mean.map((m) => 0.1 * m));
    expectClose(bn.getParameter('running_var').variable.dataSync(), unbiased.map((v) => 0.9 + 0.1 * v));
    bn.dispose();
  });

  it('keeps the running statistics as buffers: unfreeze (train everything) never makes them require a gradient, nor does a clone', () => {
    const bn = new BatchNorm(3);
    expect(bn.unfreeze()).toBe(4);
    expect([...bn.trainableVariables().keys()]).toEqual(['weight', 'bias']);
    const stats = bn.getParameter('running_var');
    stats.requiresGrad = true;
    expect([stats.buffer, stats.requiresGrad]).toEqual([true, false]);
    expect(bn.clone().getParameter('running_var').buffer).toBe(true);
    bn.dispose();
  });

  it('statistics "running": training mode normalises with the running stats and leaves them alone; momentum can be changed', () => {
    const bn = new BatchNorm(3);
    bn.statistics = 'running';
    setParameters(bn, { weight: [1, 1, 2], bias: [0, 1, 0], running_mean: [0.5, -0.5, 0], running_var: [4, 1, 0.25] });
    const y = bn.forward(tf.tensor2d([[1.5, 0.5, 1], [1.5, 0.5, 1]]));
    expectClose(y.dataSync(), [0, 1].flatMap(() => [1 / Math.sqrt(4 + 1e-5), 1 / Math.sqrt(1 + 1e-5) + 1, 2 / Math.sqrt(0.25 + 1e-5)]));
    expect(Array.from(bn.getParameter('running_mean').variable.dataSync())).toEqual([0.5, -0.5, 0]);
    bn.statistics = 'batch';
    bn.momentum = 1;
    bn.forward(tf.tensor(x, [2, 2, 2, 3]));
    expectClose(bn.getParameter('running_mean').variable.dataSync(), channelStats(x, 3).mean);
    bn.dispose();
  });

  it('uses (and does not change) the running stats in eval mode', () => {
    const bn = new BatchNorm(3).eval();
    setParameters(bn, { weight: [1, 1, 2], bias: [0, 1, 0], running_mean: [0.5, -0.5, 0], running_var: [4, 1, 0.25] });
    const y = bn.forward(tf.tensor2d([[1.5, 0.5, 1]]));
    expectClose(y.dataSync(), [1 / Math.sqrt(4 + 1e-5), 1 / Math.sqrt(1 + 1e-5) + 1, (2 * 1) / Math.sqrt(0.25 + 1e-5)]);
    expect(Array.from(bn.getParameter('running_mean').variable.dataSync())).toEqual([0.5, -0.5, 0]);
    bn.dispose();
  });

  it('rejects a wrong channel count and a single-value batch in training', () => {
    const bn = new BatchNorm(3);
    expect(() => bn.forward(tf.zeros([2, 4]))).toThrow('BatchNorm: input (channels last) must have last dimension 3, got shape [2,4]');
    expect(() => bn.forward(tf.zeros([1, 3]))).toThrow('BatchNorm: training needs more than one value per channel');
    bn.dispose();
  });

  it('has gradients that match finite differences in training mode', () => {
    const bn = new BatchNorm(3);
    setParameters(bn, { weight: [1, 2, 0.5], bias: [0, -1, 0.25], running_mean: [0, 0, 0], running_var: [1, 1, 1] });
    const input = tf.variable(tf.tensor(x, [8, 3]));
    const params = [bn.getParameter('weight').variable, bn.getParameter('bias').variable, input];
    expectGradientsMatchFiniteDifferences(() => weightedSum(bn.forward(input)), params);
    bn.dispose();
    input.dispose();
  });
});
