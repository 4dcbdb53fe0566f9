import { createToolkit, definePlugin, type DataRecord, type Dataset, type LoadedModel } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { createTrainDriver, evaluateClassifier } from '@leantune/train';
import { SoftmaxClassifier } from './helpers/classifier';

const quiet = { info: () => {}, warn: () => {} };

/** Records carry their two features in meta; the label is which feature is larger. */
function records(n: number): DataRecord[] {
  return Array.from({ length: n }, (_, row) => {
    const x = [Math.sin(row), Math.cos(row * 1.3)];
    return { id: `r${row}`, label: x[0] > x[1] ? 'a' : 'b', meta: { source: 'toy', row, x } };
  });
}

function toyModel(): LoadedModel {
  const module = new SoftmaxClassifier(2, 2, 3);
  const labels = ['a', 'b'];
  const encode = (rs: readonly DataRecord[]) => ({
    inputs: tf.tensor2d(rs.map((r) => r.meta.x as number[])),
    targets: tf.tensor1d(rs.map((r) => labels.indexOf(String(r.label))), 'int32'),
    size: rs.length,
  });
  const logits = (b: { inputs: unknown }) => module.forward(b.inputs as tf.Tensor2D);
  return {
    name: 'toy',
    arch: 'toy',
    module,
    labels,
    encode,
    loss: (b) => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(b.targets as tf.Tensor1D, 2), logits(b)) as tf.Scalar),
    predict: (b) => tf.tidy(() => tf.softmax(logits(b))),
  };
}

/** A method that trains nothing: known by its trainsNothing flag, never by its id. */
function plugins(id: string, trainsNothing: boolean) {
  return [
    definePlugin({ meta: { name: 'toy-model', version: '0.1.0', core: '^0.1.0' }, apply: (ctx) => ctx.models.register({ name: 'toy', models: ['toy'], test: (s) => s.name === 'toy', load: async () => toyModel() }) }),
    definePlugin({
      meta: { name: 'toy-zero-shot', version: '0.1.0', core: '^0.1.0' },
      apply: (ctx) => ctx.methods.register({ id, family: 'baseline', trainsNothing, configSchema: { type: 'object' }, inject: (_m, config) => ({ config, trains: () => false }) }),
    }),
  ];
}

describe('createTrainDriver with nothing trainable', () => {
  const data = records(24);
  const dataset: Dataset = { name: 'toy', records: data, splits: { train: data.slice(0, 16), validation: data.slice(16) }, reports: [] };

  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('evaluates without training when a method that trains nothing is active (any id)', async () => {
    const toolkit = await createToolkit({ plugins: plugins('hand-written-prompts', true), trainer: createTrainDriver(), log: quiet });
    const run = toolkit.createRun({ model: 'toy', methods: { 'hand-written-prompts': {} }, train: { epochs: 2, batchSize: 4 } });
    const model = await run.loadModel();
    const weights = Array.from(model.module.getParameter('weight').variable.dataSync());
    let steps = 0;
    run.hooks.afterStep.tap('count', () => void steps++);
    const metrics = await createTrainDriver().fit(run, model, dataset);
    expect(steps).toBe(0);
    expect(Array.from(model.module.getParameter('weight').variable.dataSync())).toEqual(weights);
    // The same numbers as evaluating the validation split directly.
    expect(metrics).toEqual({ ...evaluateClassifier(model, data.slice(16), 4), steps: 0 });
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0);
  });

  it('still fails with nothing trainable when no method says it trains nothing, even one named zero-shot', async () => {
    const toolkit = await createToolkit({ plugins: plugins('zero-shot', false), trainer: createTrainDriver(), log: quiet });
    const run = toolkit.createRun({ model: 'toy', methods: { 'zero-shot': {} }, train: { epochs: 1, batchSize: 4 } });
    const model = await run.loadModel();
    await expect(createTrainDriver().fit(run, model, dataset)).rejects.toThrow(/no trainable parameters/);
  });
});
