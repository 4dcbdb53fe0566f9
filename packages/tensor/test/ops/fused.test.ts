import { frozenWeightLinear, softmaxCrossEntropyWithLabels, tf, variableGradients } from '@leantune/tensor';
import { expectGradientsMatchFiniteDifferences, weightedSum } from '../helpers/gradcheck';
import { expectClose } from '../helpers/reference';

describe('fused ops (stock-op path)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('softmax cross-entropy from class ids equals the one-hot loss, ignoring out-of-range labels', () => {
    const logits = tf.randomNormal([6, 5], 0, 2, 'float32', 11);
    const labels = tf.tensor1d([0, 4, 2, -100, 1, 5], 'int32');
    const kept = [0, 1, 2, 4];
    const reference = tf.losses.softmaxCrossEntropy(tf.oneHot(tf.gather(labels, kept), 5), tf.gather(logits, kept));
    expectClose(softmaxCrossEntropyWithLabels(logits, labels).dataSync(), reference.dataSync(), 1e-6);
    // Every row ignored: 0, not NaN.
    expect(Math.abs(softmaxCrossEntropyWithLabels(logits, tf.fill([6], -1, "int32")).dataSync()[0])).toBe(0);
    expect(() => softmaxCrossEntropyWithLabels(logits, tf.tensor1d([1, 2], 'int32'))).toThrow('logits must be [rows, classes] and labels [rows]; got [6,5] and [2]');
  });

  it('softmax cross-entropy has finite-difference gradients, zero on ignored rows', () => {
    const logits = tf.variable(tf.randomNormal([4, 7], 0, 1, 'float32', 3));
    const labels = tf.tensor1d([3, -100, 6, 0], 'int32');
    expectGradientsMatchFiniteDifferences(() => softmaxCrossEntropyWithLabels(logits, labels), [logits], { eps: 1e-2, maxEntriesPerVariable: 28 });
    const { value, grads } = variableGradients(() => softmaxCrossEntropyWithLabels(logits, labels), [logits]);
    expect(Array.from(tf.slice(grads[logits.name], [1, 0], [1, 7]).dataSync(), Math.abs)).toEqual(new Array(7).fill(0));
    tf.dispose([value, ...Object.values(grads), logits]);
  });

  it.each([
    ['Linear layout [out, in]', false],
    ['Conv1D layout [in, out]', true],
  ])('a frozen-weight linear (%s) computes and differentiates as the plain one, bias trained or not', (_name, inOut) => {
    const x = tf.variable(tf.randomNormal([5, 4], 0, 1, 'float32', 1));
    const w = tf.randomNormal(inOut ? [4, 3] : [3, 4], 0, 1, 'float32', 2);
    const b = tf.variable(tf.randomNormal([3], 0, 1, 'float32', 3));
    const plain = () => tf.add(tf.matMul(x, w, false, !inOut), b) as tf.Tensor2D;
    expectClose(frozenWeightLinear(x as tf.Tensor2D, w, b, true, inOut).dataSync(), plain().dataSync(), 1e-6);
    const ours = variableGradients(() => weightedSum(frozenWeightLinear(x as tf.Tensor2D, w, b, true, inOut)), [x, b]);
    const stock = tf.variableGrads(() => weightedSum(plain()), [x, b]);
    for (const v of [x, b]) expectClose(ours.grads[v.name].dataSync(), stock.grads[v.name].dataSync(), 1e-5);
    // A frozen bias gets no gradient.
    const frozenBias = variableGradients(() => weightedSum(frozenWeightLinear(x as tf.Tensor2D, w, b, false, inOut)), [x, b]);
    expect(frozenBias.grads[b.name]).toBeUndefined();
    expectClose(frozenBias.grads[x.name].dataSync(), stock.grads[x.name].dataSync(), 1e-5);
    tf.dispose([x, w, b, ours.value, stock.value, frozenBias.value, ...Object.values(ours.grads), ...Object.values(stock.grads), ...Object.values(frozenBias.grads)]);
  });
});
