import { createToolkit, type Toolkit } from '@leantune/core';
import { tinyDataPlugin, tinyModelPlugin, maxAbsDiff, quietLog as quiet } from '@leantune/testing';
import { Linear, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import ia3Plugin, { Ia3Layer, withIa3Disabled } from '../src';

describe('@leantune/plugin-ia3 through a core Run', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, ia3Plugin], trainer: createTrainDriver(), log: quiet });
  });

  it('registers method "ia3"', () => {
    expect(toolkit.methods.get('ia3')).toMatchObject({ id: 'ia3', prefix: 'ia3_', family: 'reparameterization', defaultTargets: expect.objectContaining({ gpt2: ['c_attn', 'mlp.c_proj'], tiny: ['dense'] }) });
  });

  it('trains only the vector (+ head), lowers the loss, leaks nothing, merges to the same predictions', async () => {
    const run = toolkit.createRun({
      model: 'tiny-text',
      methods: { ia3: {} },
      trainable: ['classifier\\..*'],
      data: { name: 'tiny-sentiment' },
      train: { epochs: 3, batchSize: 8, learningRate: 0.05 },
      runtime: { seed: 5 },
    });
    const model = await run.loadModel();
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(Ia3Layer);
    expect([...model.module.trainableVariables().keys()]).toEqual(['encoder.dense.ia3_l.default', 'classifier.weight', 'classifier.bias']);
    expect(model.module.countParameters().trainable).toBe(16 + 34);
    const dataset = await run.loadData();
    const batch = model.encode!(dataset.records.slice(0, 8));
    expect(maxAbsDiff(model.predict!(batch), withIa3Disabled(model.module, () => model.predict!(batch)))).toBe(0);
    const train = dataset.splits!.train;
    const lossBefore = tf.tidy(() => model.loss!(model.encode!(train), false).dataSync()[0]);
    const counts: number[] = [];
    run.hooks.afterStep.tap('leak-check', () => void counts.push(tf.memory().numTensors));
    await run.fit();
    const lossAfter = tf.tidy(() => model.loss!(model.encode!(train), false).dataSync()[0]);
    expect(lossAfter).toBeLessThan(lossBefore * 0.9);
    expect(counts.length).toBeGreaterThan(5);
    expect(counts[counts.length - 1]).toBe(counts[2]);
    const vector = Array.from((model.module.getSubmodule('encoder.dense') as Ia3Layer).vector.dataSync());
    expect(vector.some((v) => Math.abs(v - 1) > 1e-3)).toBe(true);

    const before = model.predict!(batch);
    toolkit.methods.get('ia3')!.merge!(model.module, {});
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(Linear);
    expect(maxAbsDiff(model.predict!(batch), before)).toBeLessThan(1e-5);
  });

  describe('config validation', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a non-boolean init', { init_ia3_weights: 'ones' }, /\/methods\/ia3\/init_ia3_weights: must be boolean/],
      ['an unknown key', { feedforward_module: ['dense'] }, /unknown key "feedforward_module".*Did you mean "feedforward_modules"/s],
      ['a number as target', { target_modules: 3 }, /\/methods\/ia3\/target_modules/],
    ];
    it.each(cases)('rejects %s', (_name, ia3, message) => {
      expect(() => toolkit.createRun({ model: 'tiny-text', methods: { ia3 } })).toThrow(message);
    });
    it('a target that matches nothing fails at inject with close names', async () => {
      const run = toolkit.createRun({ model: 'tiny-text', methods: { ia3: { target_modules: ['dens'] } } });
      await expect(run.loadModel()).rejects.toThrow(/Method "ia3" failed to inject into model "tiny-text": IA3 target_modules \["dens"\] matched no module.*"dense"/s);
    });
  });
});
