import { registerLayerGradients, tf } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';

// The ported gradients not already exercised through a layer's gradient check.
const cases: Array<[string, (x: tf.Tensor) => tf.Tensor]> = [
  ['max / min', (x) => tf.concat([tf.max(x, 1), tf.min(x, 0)])],
  ['pow with a tensor exponent', (x) => tf.pow(tf.abs(x), tf.add(x, 2))],
  ['sqrt, log, log1p, exp, reciprocal', (x) => tf.addN([tf.sqrt(tf.abs(x)), tf.log(tf.abs(x)), tf.log1p(tf.abs(x)), tf.exp(x), tf.reciprocal(x)])],
  ['squaredDifference, maximum, minimum', (x) => tf.addN([tf.squaredDifference(x, 0.3), tf.maximum(x, 0.1), tf.minimum(x, 0.1)])],
  ['softplus, elu, leakyRelu, relu6', (x) => tf.addN([tf.softplus(x), tf.elu(x), tf.leakyRelu(x, 0.2), tf.relu6(tf.mul(x, 4))])],
  ['clipByValue, where', (x) => tf.add(tf.clipByValue(x, -0.5, 0.5), tf.where(tf.greater(x, 0), tf.mul(x, 3), tf.neg(x)))],
  ['logSoftmax', (x) => tf.logSoftmax(x)],
  ['slice, tile, concat, stack, unstack', (x) => tf.concat([tf.slice(x, [0, 1], [2, 2]), tf.tile(x, [1, 2]), tf.stack(tf.unstack(x, 1), 1)], 1)],
  ['expandDims, broadcastTo', (x) => tf.broadcastTo(tf.expandDims(tf.slice(x, [0, 0], [1, 3]), 0), [2, 2, 3])],
  ['avgPool', (x) => tf.avgPool(tf.reshape(x, [1, 2, 3, 1]) as tf.Tensor4D, 2, 1, 'valid')],
];

describe('registered gradients', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each(cases)('match finite differences: %s', (_name, fn) => {
    // Values away from 0 and from each other: no kinks or ties within ±eps.
    const x = tf.variable(tf.tensor2d([[0.71, -1.33, 0.42], [-0.27, 1.18, -0.86]]));
    expectGradientsMatchFiniteDifferences(() => weightedSum(fn(x)), [x], { eps: 1e-3, rtol: 2e-2, atol: 2e-3 });
    x.dispose();
  });

  it.each([
    ['x[2,2,3]·W[3,2] (W broadcast over the batch)', [2, 2, 3], [3, 2], false, false],
    ['x[2,2,3]·W[2,3]ᵀ', [2, 2, 3], [2, 3], false, true],
    ['a[1,2,3]·b[2,3,2] (a broadcast)', [1, 2, 3], [2, 3, 2], false, false],
  ] as const)('batched matMul with broadcasting matches finite differences: %s', (_name, aShape, bShape, ta, tb) => {
    const values = (n: number, shift: number) => Array.from({ length: n }, (_, i) => Math.sin(1.3 * i + shift));
    const a = tf.variable(tf.tensor(values(aShape.reduce((x, y) => x * y, 1), 0.2), [...aShape]));
    const b = tf.variable(tf.tensor(values(bShape.reduce((x, y) => x * y, 1), 1.1), [...bShape]));
    expectGradientsMatchFiniteDifferences(() => weightedSum(tf.matMul(a, b, ta, tb)), [a, b], { eps: 1e-3, rtol: 2e-2, atol: 2e-3 });
    a.dispose();
    b.dispose();
  });

  it('does not replace gradients that are already registered', () => {
    expect(registerLayerGradients()).toBe(0);
    expect(tf.getGradient('Sum')).toBeDefined();
  });
});
