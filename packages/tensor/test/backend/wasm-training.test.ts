import { initBackend, installWasmTrainingKernels, tf, uninstallWasmTrainingKernels } from '@leantune/tensor';
import { maxAbsDiff, seededValues } from './wasm-helpers';

// A tiny text classifier: embedding → per-token projection → mean over tokens → linear.
// Its backward pass uses every kernel we register: UnsortedSegmentSum (gather gradient),
// BatchMatMul with transposes, batched [B,T,D] products and folded rows.
const VOCAB = 11;
const DIM = 8;
const HIDDEN = 6;
const CLASSES = 3;
const BATCH = 5;
const TOKENS = 4;
const STEPS = 20;
const LEARNING_RATE = 0.5;

const tokenIds = Array.from({ length: BATCH * TOKENS }, (_, i) => (i * 7 + 3) % VOCAB);
const labels = Array.from({ length: BATCH }, (_, i) => i % CLASSES);

function initialWeights(withEmbedding: boolean): Record<string, { shape: number[]; values: Float32Array }> {
  const weights: Record<string, { shape: number[]; values: Float32Array }> = {
    projection: { shape: [DIM, HIDDEN], values: seededValues(DIM * HIDDEN, 2) },
    classifier: { shape: [HIDDEN, CLASSES], values: seededValues(HIDDEN * CLASSES, 3) },
    bias: { shape: [CLASSES], values: new Float32Array(CLASSES) },
  };
  if (withEmbedding) weights.embedding = { shape: [VOCAB, DIM], values: seededValues(VOCAB * DIM, 1) };
  return weights;
}

/** Trains from the same start on the current backend; returns the loss before each step. */
function lossCurve(withEmbedding: boolean): number[] {
  const vars: Record<string, tf.Variable> = {};
  tf.tidy(() => {
    for (const [name, w] of Object.entries(initialWeights(withEmbedding))) vars[name] = tf.variable(tf.tensor(w.values, w.shape), true, name);
  });
  const ids = tf.tensor2d(tokenIds, [BATCH, TOKENS], 'int32');
  const features = tf.tensor3d(seededValues(BATCH * TOKENS * DIM, 4), [BATCH, TOKENS, DIM]);
  const targets = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), CLASSES));
  const loss = (): tf.Scalar => {
    const tokens = withEmbedding ? tf.gather(vars.embedding, ids) : features;
    const hidden = tf.tanh(tf.matMul(tokens, tf.broadcastTo(vars.projection, [BATCH, DIM, HIDDEN])));
    const pooled = tf.mean(hidden, 1);
    const logits = tf.add(tf.matMul(pooled, vars.classifier), vars.bias);
    return tf.neg(tf.mean(tf.sum(tf.mul(targets, tf.logSoftmax(logits)), 1)));
  };
  const curve: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(loss);
      curve.push(value.dataSync()[0]);
      for (const [name, grad] of Object.entries(grads)) vars[name].assign(tf.sub(vars[name], tf.mul(grad, LEARNING_RATE)));
    });
  }
  tf.dispose([...Object.values(vars), ids, features, targets]);
  return curve;
}

async function curveOn(backend: string, withEmbedding: boolean): Promise<number[]> {
  await tf.setBackend(backend);
  const tensors = tf.memory().numTensors;
  const curve = lossCurve(withEmbedding);
  expect(tf.memory().numTensors).toBe(tensors);
  return curve;
}

beforeAll(async () => {
  await initBackend({ backend: 'wasm', threads: 2 });
});

afterAll(async () => {
  installWasmTrainingKernels();
  await tf.setBackend('cpu');
});

describe('training on wasm', () => {
  it('an embedding classifier learns, with the same loss curve as on cpu (1e-4)', async () => {
    const cpu = await curveOn('cpu', true);
    const wasm = await curveOn('wasm', true);
    expect(cpu[STEPS - 1]).toBeLessThan(0.5 * cpu[0]);
    expect(maxAbsDiff(wasm, cpu)).toBeLessThanOrEqual(1e-4);
  });

  it('leaves the loss curve of the stock wasm kernels unchanged (no embedding: stock wasm can run it)', async () => {
    const ours = await curveOn('wasm', false);
    uninstallWasmTrainingKernels();
    try {
      const stock = await curveOn('wasm', false);
      expect(ours[STEPS - 1]).toBeLessThan(ours[0]);
      expect(maxAbsDiff(ours, stock)).toBeLessThanOrEqual(1e-5);
    } finally {
      installWasmTrainingKernels();
    }
  });
});
