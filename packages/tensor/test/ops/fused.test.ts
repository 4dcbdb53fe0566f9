import { attention, frozenWeightLinear, linearCrossEntropyWithLabels, scaleBy, scaledDropoutMask, softmaxCrossEntropyWithLabels, tf, variableGradients } from '@leantune/tensor';
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

describe('scaleBy', () => {
  it('is x·s forward, dy·s backward, and keeps no copy of x for the backward', () => {
    const v = tf.variable(tf.randomNormal([32, 48]));
    let added = -1;
    const { grads, value } = tf.variableGrads(() => {
      const before = tf.memory().numBytes;
      const y = scaleBy(v, 2.5);
      added = tf.memory().numBytes - before;
      expect(Array.from(y.dataSync())).toEqual(Array.from(tf.mul(v, 2.5).dataSync()));
      return tf.sum(tf.mul(y, 3));
    }, [v]);
    expect(added).toBe(32 * 48 * 4);
    expect(new Set(grads[v.name].dataSync())).toEqual(new Set([7.5]));
    tf.dispose([value, grads[v.name], v]);
  });
});

describe('linearCrossEntropyWithLabels', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  // 13 rows, vocab 37, d 8; labels with ignored ones (−1 and ≥ vocab).
  const setup = () => ({
    h: tf.variable(tf.randomNormal([13, 8], 0, 1, 'float32', 3)),
    w: tf.variable(tf.randomNormal([37, 8], 0, 0.5, 'float32', 4)),
    labels: tf.tensor1d([0, 5, 36, -1, 7, 7, 12, 40, 3, 2, 1, 30, 9], 'int32'),
  });
  const reference = (h: tf.Tensor, w: tf.Tensor, labels: tf.Tensor) => softmaxCrossEntropyWithLabels(tf.matMul(h, w, false, true), labels);

  for (const chunkBytes of [4 * 37 * 2, 4 * 37 * 5, undefined]) {
    it(`equals the loss and gradients of the whole logits (blocks of ${chunkBytes ? chunkBytes / (4 * 37) : 'all'} rows), the weight trained or not`, () => {
      const { h, w, labels } = setup();
      const want = tf.variableGrads(() => reference(h, w, labels), [h, w]);
      const got = tf.variableGrads(() => linearCrossEntropyWithLabels(h, w, labels, { weightTrains: true, chunkBytes }), [h, w]);
      expectClose(got.value.dataSync(), want.value.dataSync(), 1e-6);
      expectClose(got.grads[h.name].dataSync(), want.grads[h.name].dataSync(), 1e-6);
      expectClose(got.grads[w.name].dataSync(), want.grads[w.name].dataSync(), 1e-6);
      // A frozen weight: only h gets a gradient (the weight is not an input of the op).
      const frozen = tf.variableGrads(() => linearCrossEntropyWithLabels(h, w, labels, { chunkBytes }), [h]);
      expectClose(frozen.grads[h.name].dataSync(), want.grads[h.name].dataSync(), 1e-6);
      // Outside a tape (evaluation): the same loss, no gradient work.
      expectClose(linearCrossEntropyWithLabels(h, w, labels, { chunkBytes }).dataSync(), want.value.dataSync(), 1e-6);
    });
  }

  it('keeps no logits for the backward: only dh [rows, d] stays while the tape is open', () => {
    const h = tf.variable(tf.randomNormal([64, 16]));
    const w = tf.randomNormal([500, 16]);
    const labels = tf.randomUniformInt([64], 0, 500);
    let added = -1;
    tf.variableGrads(() => {
      const before = tf.memory().numBytes;
      const loss = linearCrossEntropyWithLabels(h, w, labels, { chunkBytes: 4 * 500 * 16 });
      added = tf.memory().numBytes - before;
      return loss;
    }, [h]);
    // dh (64 × 16 floats) and a few [64] vectors (label bookkeeping), far from the 64 × 500 logits.
    expect(added).toBeLessThan(4 * (64 * 16 + 8 * 64));
    expect(added).toBeGreaterThanOrEqual(4 * 64 * 16);
  });

  it('refuses mismatched shapes, naming them', () => {
    expect(() => linearCrossEntropyWithLabels(tf.zeros([4, 8]), tf.zeros([10, 7]), tf.zeros([4], 'int32'))).toThrow(/h must be \[rows, d\], weight \[vocab, d\].*\[4,8\], \[10,7\]/);
  });
});

describe('attention', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  // b 2, h 3, s 5 queries over t 7 keys (2 of them a prefix), d 4; a causal-ish additive mask.
  const q = tf.variable(tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 21));
  const k = tf.variable(tf.randomNormal([2, 3, 7, 4], 0, 1, 'float32', 22));
  const v = tf.variable(tf.randomNormal([2, 3, 7, 4], 0, 1, 'float32', 23));
  // Made inside each tape scope, as a model makes its mask: the backward must not need the caller's copy.
  const newMask = () => tf.tensor4d(Array.from({ length: 5 * 7 }, (_, i) => (i % 7 > 2 + Math.floor(i / 7) ? -1e9 : 0)), [1, 1, 5, 7]);
  const mask = newMask();
  const stock = (p?: { p: number; seed: number }) => {
    let probs = tf.softmax(tf.add(tf.mul(tf.matMul(q, k, false, true), 0.5), mask), -1);
    if (p) probs = tf.mul(probs, scaledDropoutMask(probs.shape, p.p, p.seed));
    return tf.matMul(probs, v);
  };
  const weights = tf.randomNormal([2, 3, 5, 4], 0, 1, 'float32', 24);

  for (const dropout of [undefined, { p: 0.3, seed: 77 }]) {
    it(`equals the stock ops in value and in the gradients of q, k and v (${dropout ? 'dropout 0.3' : 'no dropout'})`, () => {
      const want = tf.variableGrads(() => tf.sum(tf.mul(stock(dropout), weights)), [q, k, v]);
      const got = tf.variableGrads(() => tf.tidy(() => tf.sum(tf.mul(attention(q, k, v, { scale: 0.5, mask: newMask(), dropout }), weights))), [q, k, v]);
      expectClose(got.value.dataSync(), want.value.dataSync(), 1e-5);
      for (const x of [q, k, v]) expectClose(got.grads[x.name].dataSync(), want.grads[x.name].dataSync(), 1e-5);
      // Outside a tape: the same values.
      expectClose(attention(q, k, v, { scale: 0.5, mask, dropout }).dataSync(), stock(dropout).dataSync(), 1e-6);
    });
  }

  it('keeps nothing of size [b, h, s, t] for the backward', () => {
    let added = -1;
    tf.variableGrads(() => {
      const [qa, ka, va] = [q, k, v].map((x) => tf.mul(x, 1));
      const before = tf.memory().numBytes;
      const out = attention(qa, ka, va, { scale: 0.5, mask, dropout: { p: 0.1, seed: 1 } });
      added = tf.memory().numBytes - before;
      return tf.sum(out);
    }, [q, k, v]);
    // The output, and save()'s clones of q, k, v and the mask (tf.memory counts a clone's bytes though it shares the data).
    expect(added).toBe((2 * 3 * 5 * 4 + 2 * 3 * 5 * 4 + 2 * 2 * 3 * 7 * 4 + 5 * 7) * 4);
  });
});

