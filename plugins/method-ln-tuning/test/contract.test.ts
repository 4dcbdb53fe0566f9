import { describeMethodContract, encodeChars, formatParameterCounts, type CheckResult } from '@leantune/testing';
import type { Batch, LoadedModel } from '@leantune/core';
import { Embedding, LayerNorm, Linear, Module, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import lnTuningPlugin from '../src';

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
// The figures PEFT's tests print: parameter counts, how far the loss fell, save/load and merge diffs.
afterAll(() => {
  for (const r of results) {
    const m = r.measured;
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
    if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
    if ((r.check === 'save-load' || r.check === 'merge') && !r.skipped) process.stdout.write(`${r.method}: ${r.check} max abs diff ${m.maxAbsDiff}\n`);
  }
});

const VOCAB = 64;
const DIM = 16;
const SEQ_LEN = 24;
const LABELS = ['neg', 'pos'];

/**
 * The contract's tiny classifier with two LayerNorms added where transformers put them:
 * over each token's embedding (BERT's embeddings.LayerNorm) and over the hidden state before
 * the head. The tiny Hugging Face BERT fixture has LayerNorms too, but on it even full
 * fine-tuning at the contract's lr needs more than 30 steps to leave chance level.
 */
class NormedTinyClassifier extends Module {
  constructor() {
    super();
    this.addModule('embed', new Embedding(VOCAB, DIM));
    this.addModule('embed_norm', new LayerNorm(DIM));
    this.addModule('dense', new Linear(DIM, DIM));
    this.addModule('norm', new LayerNorm(DIM));
    this.addModule('classifier', new Linear(DIM, LABELS.length));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    const layer = (name: string, x: tf.Tensor) => this.child<Module>(name)!.forward(x) as tf.Tensor;
    return tf.tidy(() => {
      const mask = tf.expandDims(tf.cast(tf.greater(ids, 0), 'float32'), -1);
      const tokens = tf.mul(layer('embed_norm', layer('embed', ids)), mask);
      const pooled = tf.div(tf.sum(tokens, 1), tf.maximum(tf.sum(mask, 1), 1));
      return layer('classifier', layer('norm', tf.tanh(layer('dense', pooled))));
    });
  }
}

function normedTinyModel(): LoadedModel {
  const module = new NormedTinyClassifier();
  return {
    name: 'normed-tiny-text',
    arch: 'normed-tiny',
    module,
    labels: LABELS,
    encode: (records): Batch => ({
      inputs: tf.tensor2d(records.map((r) => encodeChars(r.text ?? '', VOCAB)), [records.length, SEQ_LEN], 'int32'),
      targets: tf.tensor1d(records.map((r) => LABELS.indexOf(String(r.label))), 'int32'),
      size: records.length,
    }),
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(batch.targets as tf.Tensor1D, LABELS.length), module.forward(batch.inputs as tf.Tensor)) as tf.Scalar);
    },
  };
}

// No target_modules: every LayerNorm, found by type (2 × (gain + bias) = 64 values). They
// train in place, so they are base parameters that may move; everything else must not.
const config = {};

describeMethodContract({
  plugin: lnTuningPlugin,
  method: 'ln-tuning',
  config,
  model: normedTinyModel,
  trainer: createTrainDriver(),
  trainsBaseParameters: true,
  // It adds nothing, so the injected model is the base model.
  identityAtInit: true,
  mergeable: false,
  mergeSkipReason: 'LN tuning\'s handle has no merge: it trains the LayerNorm parameters in place, so there is no separate delta to fold',
  // Save/load: the default, through the run's handle (handle.save, then the method's load onto
  // a bare base): PEFT LN_TUNING files, loaded onto a model LN tuning never touched.
  invalidConfigs: [
    { config: { modules_to_save: ['classifier'] }, message: /must be null/ },
    { config: { exclude_modules: [''] }, pointer: '/methods/ln-tuning/exclude_modules/0', message: /must NOT have fewer than 1 characters/ },
  ],
  onResult: (r) => void results.push(r),
});
