import { installNativeWasmKernels, loadAddon, uninstallNativeWasmKernels } from '@leantune/native';
import { initBackend, tf } from '@leantune/tensor';
import { seededValues } from './reference';

// The requirement: a 20-step training loss curve computed with the native kernels
// matches the one computed with the wasm kernels they replace, to 1e-4. The model is a
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

describe('training with the native kernels', () => {
  beforeAll(() => initBackend({ backend: 'wasm', threads: 2 }));
  afterAll(() => uninstallNativeWasmKernels());

  it('follows the stock wasm loss curve for 20 Adam steps to 1e-4, and learns', () => {
    uninstallNativeWasmKernels();
    const tensors = tf.memory().numTensors;
    const stock = lossCurve();
    installNativeWasmKernels(loadAddon());
    const native = lossCurve();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(native).toHaveLength(STEPS);
    expect(stock[STEPS - 1]).toBeLessThan(0.8 * stock[0]);
    const worst = Math.max(...native.map((l, i) => Math.abs(l - stock[i])));
    expect(worst).toBeLessThan(1e-4);
  });
});
