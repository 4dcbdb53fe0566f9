import { createToolkit, type Toolkit } from '@leantune/core';
import { tinyDataPlugin, tinyModelPlugin, maxAbsDiff, quietLog as quiet, runsOfOneConfig } from '@leantune/testing';
import { Linear, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ia3Plugin, { IA3_DEFAULT_TARGETS, Ia3Layer, Ia3Model } from '../src';

describe('@leantune/plugin-ia3 through a core Run', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, ia3Plugin], trainer: createTrainDriver(), log: quiet });
  });

  it('registers method "ia3"', () => {
    expect(toolkit.methods.get('ia3')).toMatchObject({ id: 'ia3', prefix: 'ia3_', family: 'reparameterization', defaultTargets: expect.objectContaining({ gpt2: ['c_attn', 'mlp.c_proj'] }) });
    // The test architecture is in no table: the run passes the tiny model's own defaultTargets (['dense']).
    expect(IA3_DEFAULT_TARGETS).not.toHaveProperty('tiny');
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
    expect(run.methods.map((m) => [m.id, m.from])).toEqual([['ia3', 'config']]);
    const ia3 = run.methods[0].handle as Ia3Model;
    expect(ia3).toBeInstanceOf(Ia3Model);
    // target_modules as the model's defaults name them (PEFT saves names, not resolved paths).
    expect(ia3.config).toMatchObject({ target_modules: ['dense'], feedforward_modules: [] });
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(Ia3Layer);
    expect([...model.module.trainableVariables().keys()]).toEqual(['encoder.dense.ia3_l.default', 'classifier.weight', 'classifier.bias']);
    expect(model.module.countParameters().trainable).toBe(16 + 34);
    const dataset = await run.loadData();
    const batch = model.encode!(dataset.records.slice(0, 8));
    expect(maxAbsDiff(model.predict!(batch), ia3.withDisabled(() => model.predict!(batch)))).toBe(0);
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
    // The handle's files, loaded by the method onto a fresh base (with the trained head copied), predict the same.
    const dir = mkdtempSync(join(tmpdir(), 'lt-ia3-run-'));
    try {
      ia3.save(dir);
      const fresh = toolkit.createRun({ model: 'tiny-text', methods: {}, runtime: { seed: 5 } });
      const base = await fresh.loadModel();
      for (const name of ['classifier.weight', 'classifier.bias']) base.module.getParameter(name).variable.assign(model.module.getParameter(name).variable);
      const loaded = await toolkit.methods.get('ia3')!.load!(base, dir);
      expect(loaded).toBeInstanceOf(Ia3Model);
      expect(loaded.config).toEqual(ia3.config);
      expect(maxAbsDiff(base.predict!(batch), before)).toBeLessThan(1e-6);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    expect(ia3.mergeAndUnload()).toBe(model.module);
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(Linear);
    expect(maxAbsDiff(model.predict!(batch), before)).toBeLessThan(1e-5);
  });

  it('two runs of one config object share no state', async () => {
    const config = { model: 'tiny-text', methods: { ia3: {} }, data: { name: 'tiny-sentiment' }, runtime: { seed: 5 } };
    const [{ model: model1, handle: ia3a }, { model: model2, handle: ia3b }] = await runsOfOneConfig<Ia3Model>(toolkit, config, 'ia3');
    expect(ia3a).not.toBe(ia3b);
    expect(ia3b.model).toBe(model2.module);
    expect(ia3a.config).toEqual(ia3b.config);
    expect(config.methods.ia3).not.toHaveProperty('target_modules', ['encoder.dense']);
    ia3a.mergeAndUnload();
    expect(model1.module.getSubmodule('encoder.dense')).toBeInstanceOf(Linear);
    expect(model2.module.getSubmodule('encoder.dense')).toBeInstanceOf(Ia3Layer);
    expect(ia3b.layers().map(([p]) => p)).toEqual(['encoder.dense']);
    expect([...model2.module.trainableVariables().keys()]).toEqual(['encoder.dense.ia3_l.default']);
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
