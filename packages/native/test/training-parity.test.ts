import { loadAddon } from '@leantune/native';
import { tf } from '@leantune/tensor';
import { countingAddon, useNativeBackend } from './counting-addon';
import { seededValues } from './reference';

// A 20-step training loss curve computed on the native backend matches the one computed on
// tfjs's cpu backend (the kernels it replaces), to 1e-4, and a counting addon shows that the
// native kernels computed it: every product, lookup and softmax, per step. The model is a
// small attention block written with plain ops, so every product the decoder makes is
// here: projections of the [B·T, D] rows, the batched Q·Kᵀ and P·V per head, their
// transposed backward products, and a fused bias+relu matmul.
const [BATCH, TOKENS, DIM, HEADS, VOCAB, STEPS] = [4, 12, 32, 4, 40, 20];
const HEAD_DIM = DIM / HEADS;

const tokenIds = Array.from({ length: BATCH * (TOKENS + 1) }, (_, i) => (i * 13 + 5) % VOCAB);

const SHAPES: Record<string, number[]> = {
  embedding: [VOCAB, DIM], wq: [DIM, DIM], wk: [DIM, DIM], wv: [DIM, DIM], wo: [DIM, DIM], bo: [DIM], head: [DIM, VOCAB],
};

function splitHeads(x: tf.Tensor): tf.Tensor {
  return tf.transpose(tf.reshape(x, [BATCH, TOKENS, HEADS, HEAD_DIM]), [0, 2, 1, 3]);
}

/** Losses of STEPS Adam steps from the same seeded start, on whatever kernels are registered. */
function lossCurve(): number[] {
  const vars: Record<string, tf.Variable> = {};
  Object.entries(SHAPES).forEach(([name, shape], i) => {
    const initial = tf.tidy(() => tf.mul(tf.tensor(seededValues(tf.util.sizeFromShape(shape), i + 1), shape), 0.3));
    vars[name] = tf.variable(initial, true, name);
    initial.dispose();
  });
  const ids = tf.tensor2d(tokenIds, [BATCH, TOKENS + 1], 'int32');
  const inputs = tf.slice(ids, [0, 0], [BATCH, TOKENS]);
  const targets = tf.tidy(() => tf.oneHot(tf.reshape(tf.slice(ids, [0, 1], [BATCH, TOKENS]), [-1]), VOCAB));
  const loss = (): tf.Scalar => {
    const x = tf.reshape(tf.gather(vars.embedding, inputs), [BATCH * TOKENS, DIM]);
    const q = splitHeads(tf.matMul(x, vars.wq));
    const k = splitHeads(tf.matMul(x, vars.wk));
    const v = splitHeads(tf.matMul(x, vars.wv));
    const scores = tf.softmax(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(HEAD_DIM)));
    const merged = tf.reshape(tf.transpose(tf.matMul(scores, v), [0, 2, 1, 3]), [BATCH * TOKENS, DIM]);
    const hidden = tf.fused.matMul({ a: merged, b: vars.wo, bias: vars.bo, activation: 'relu' });
    const logits = tf.matMul(tf.add(hidden, x), vars.head);
    return tf.losses.softmaxCrossEntropy(targets, logits);
  };
  const optimizer = tf.train.adam(0.02);
  const curve: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    tf.tidy(() => {
      const value = optimizer.minimize(loss, true, Object.values(vars));
      curve.push(value!.dataSync()[0]);
    });
  }
  optimizer.dispose();
  tf.dispose([...Object.values(vars), ids, inputs, targets]);
  return curve;
}

/** Addon calls per kernel that one step of lossCurve() makes, counted from the model above. */
const PER_STEP = {
  // Forward: x·Wq, x·Wk, x·Wv, Q·Kᵀ, P·V, the fused ·Wo (+bias, relu), ·head = 7 products;
  // backward: two products (one per operand) for each.
  matmul: 7 * 3,
  // The embedding lookup, and its gradient (a segment sum over the vocabulary rows).
  gather: 1,
  segmentSum: 1,
  softmax: 1,
};
/** Kernels the step uses many times over (elementwise, Adam's updates, sums, transposes). */
const USED = ['binary', 'unary', 'reduce', 'stridedCopy'];

describe('training on the native backend', () => {
  const counted = countingAddon(loadAddon());
  const count = () => Object.fromEntries([...Object.keys(PER_STEP), ...USED].map((name) => [name, counted.callsOf(name)]));
  beforeAll(() => useNativeBackend(counted.addon));

  it(`follows the cpu backend's loss curve for 20 Adam steps to 1e-4, learns, and leaks nothing (GEMM micro-kernel: ${loadAddon().info().isa})`, async () => {
    await tf.setBackend('cpu');
    const beforeReference = counted.calls();
    const reference = lossCurve();
    // The reference is tfjs's own cpu kernels: not one addon call.
    expect(counted.calls()).toBe(beforeReference);
    await tf.setBackend('native');
    const tensors = tf.memory().numTensors;
    const bytes = (tf.backend() as unknown as { liveBytes: number }).liveBytes;
    const calls = counted.calls();
    const before = count();
    const native = lossCurve();
    const after = count();
    const ran = Object.fromEntries(Object.keys(after).map((name) => [name, after[name] - before[name]]));
    // Every product, lookup and softmax of every step went through the addon (a kernel that
    // fell back to tfjs's cpu code would count short), and the rest of the step's kernels ran.
    expect(Object.fromEntries(Object.keys(PER_STEP).map((name) => [name, ran[name]]))).toEqual(
      Object.fromEntries(Object.entries(PER_STEP).map(([name, n]) => [name, n * STEPS])),
    );
    for (const name of USED) expect({ name, atLeastOnePerStep: ran[name] >= STEPS }).toEqual({ name, atLeastOnePerStep: true });
    expect(counted.calls() - calls).toBeGreaterThan(20 * 10);
    // The GEMM ran on the micro-kernel this CPU supports best (the title names it).
    expect(counted.addon.info().isa).toBe(counted.addon.info().detectedIsa);
    expect(tf.memory().numTensors).toBe(tensors);
    expect((tf.backend() as unknown as { liveBytes: number }).liveBytes).toBe(bytes);
    expect(native).toHaveLength(STEPS);
    expect(reference[STEPS - 1]).toBeLessThan(0.8 * reference[0]);
    const worst = Math.max(...native.map((l, i) => Math.abs(l - reference[i])));
    expect(worst).toBeLessThan(1e-4);
  });
});
