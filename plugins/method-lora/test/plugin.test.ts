import { createToolkit, type Toolkit } from '@leantune/core';
import { maxAbsDiff, quietLog as quiet, runsOfOneConfig, tinyDataPlugin, tinyModelPlugin } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import { Linear } from '@leantune/tensor';
import loraPlugin, { LORA_DEFAULT_TARGETS, LoraLinear, LoraModel, ModulesToSaveWrapper } from '../src';

describe('@leantune/plugin-lora through a core Run', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, loraPlugin], trainer: createTrainDriver(), log: quiet });
  });

  it('registers method "lora" with its prefix, family and default targets', () => {
    expect(toolkit.methods.get('lora')).toMatchObject({
      id: 'lora',
      prefix: 'lora_',
      family: 'reparameterization',
      plugin: '@leantune/plugin-lora',
      defaultTargets: expect.objectContaining({ gpt2: ['c_attn'], bert: ['query', 'value'], 'use-lite': ['q', 'v'] }),
    });
    // The test architecture is in no table: the tiny model declares its own default targets,
    // which the run passes on (the next test finds LoRA on encoder.dense without target_modules).
    expect(LORA_DEFAULT_TARGETS).not.toHaveProperty('tiny');
  });

  it('injects on the default target, keeps the forward at init, and trains only LoRA (+ modules_to_save)', async () => {
    const run = toolkit.createRun({
      model: 'tiny-text',
      methods: { lora: { r: 4, lora_alpha: 8, modules_to_save: ['classifier'] } },
      data: { name: 'tiny-sentiment' },
      train: { epochs: 3, batchSize: 8, learningRate: 0.05 },
      runtime: { seed: 3 },
    });
    const model = await run.loadModel();
    expect(model.defaultTargets).toEqual(['dense']);
    expect(run.methods.map((m) => [m.id, m.from])).toEqual([['lora', 'config']]);
    const lora = run.methods[0].handle as LoraModel;
    expect(lora).toBeInstanceOf(LoraModel);
    expect(lora.model).toBe(model.module);
    expect(lora.config.target_modules).toEqual(['dense']);
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(LoraLinear);
    expect(model.module.getSubmodule('classifier')).toBeInstanceOf(ModulesToSaveWrapper);
    const dataset = await run.loadData();
    const batch = model.encode!(dataset.records.slice(0, 8));
    // At init (B = 0, the classifier copy equal to the original) the output is the base model's.
    const basePrediction = lora.withAdaptersDisabled(() => model.predict!(batch));
    expect(maxAbsDiff(model.predict!(batch), basePrediction)).toBe(0);
    expect([...model.module.trainableVariables().keys()]).toEqual([
      'encoder.dense.lora_A.default.weight',
      'encoder.dense.lora_B.default.weight',
      'classifier.modules_to_save.default.weight',
      'classifier.modules_to_save.default.bias',
    ]);
    // dim 16, r 4: A 4×16 + B 16×4 = 128; classifier copy 2×16 + 2 = 34.
    expect(model.module.countParameters().trainable).toBe(162);

    const lossBefore = tf.tidy(() => model.loss!(model.encode!(dataset.splits!.train), false).dataSync()[0]);
    const frozenBefore = Array.from(model.module.getParameter('encoder.dense.base_layer.weight').variable.dataSync());
    const steps: number[] = [];
    run.hooks.afterStep.tap('leak-check', () => void steps.push(tf.memory().numTensors));
    await run.fit();
    const lossAfter = tf.tidy(() => model.loss!(model.encode!(dataset.splits!.train), false).dataSync()[0]);
    expect(lossAfter).toBeLessThan(lossBefore * 0.9);
    expect(Array.from(model.module.getParameter('encoder.dense.base_layer.weight').variable.dataSync())).toEqual(frozenBefore);
    // No tensor leaks per step: the count is flat after the first steps (optimizer state).
    expect(steps.length).toBe(18);
    expect(steps[steps.length - 1]).toBe(steps[2]);

    // The handle's mergeAndUnload folds LoRA into plain layers; predictions do not change.
    const before = model.predict!(batch);
    expect(lora.mergeAndUnload()).toBe(model.module);
    expect(model.module.getSubmodule('encoder.dense').constructor.name).toBe('Linear');
    expect(model.module.getSubmodule('classifier')).toBeInstanceOf(Linear);
    expect([...model.module.namedParameters()].some(([p]) => lora.trains(p, model.module.getParameter(p)))).toBe(false);
    expect(maxAbsDiff(model.predict!(batch), before)).toBeLessThan(1e-5);
  });

  it('keeps no state outside its handles: two runs of one config object, two adapters on one LoraModel', async () => {
    const config = { model: 'tiny-text', methods: { lora: { r: 2, lora_alpha: 4 } }, data: { name: 'tiny-sentiment' }, runtime: { seed: 3 } };
    const [{ model: model1, handle: lora1 }] = await runsOfOneConfig<LoraModel>(toolkit, config, 'lora', 1);
    lora1.addAdapter({ r: 3, target_modules: ['dense'] }, { adapterName: 'second' });
    lora1.setAdapter('second');
    expect([lora1.adapterNames(), lora1.activeAdapters()]).toEqual([['default', 'second'], ['second']]);
    expect([...model1.module.trainableVariables().keys()]).toEqual(['encoder.dense.lora_A.second.weight', 'encoder.dense.lora_B.second.weight']);

    // Same config object again: a fresh model, a fresh handle, nothing of the first run's adapters.
    const [{ model: model2, handle: lora2 }] = await runsOfOneConfig<LoraModel>(toolkit, config, 'lora', 1);
    expect(lora2).not.toBe(lora1);
    expect(model2.module).not.toBe(model1.module);
    expect([lora2.adapterNames(), lora2.activeAdapters()]).toEqual([['default'], ['default']]);
    expect(lora2.adapterConfig()).toEqual(lora1.adapterConfig('default'));
    expect(() => lora2.adapterConfig('second')).toThrow(/no LoRA adapter named "second". Adapters: default/);
    expect([...model2.module.trainableVariables().keys()]).toEqual(['encoder.dense.lora_A.default.weight', 'encoder.dense.lora_B.default.weight']);
    // Nothing a run resolved (targets, adapters) is written back into the shared config object.
    expect(config.methods.lora).toMatchObject({ r: 2, lora_alpha: 4 });
    expect(config.methods.lora).not.toHaveProperty('target_modules', ['dense']);

    // Unloading the first run's adapters leaves the second run's model and handle as they were.
    lora1.mergeAndUnload();
    expect(model1.module.getSubmodule('encoder.dense')).toBeInstanceOf(Linear);
    expect(lora1.adapterNames()).toEqual([]);
    expect(model2.module.getSubmodule('encoder.dense')).toBeInstanceOf(LoraLinear);
    expect(lora2.adapterNames()).toEqual(['default']);
    // A second adapter on run 2 may reuse the name run 1 had: the names live on each handle.
    lora2.addAdapter({ r: 3, target_modules: ['dense'] }, { adapterName: 'second' });
    expect(lora2.activeAdapters()).toEqual(['default']);
    expect(() => lora2.addAdapter({ r: 3, target_modules: ['dense'] }, { adapterName: 'second' })).toThrow(/LoRA adapter "second" already exists on this model/);
  });

  describe('config validation', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['bias other than none', { bias: 'all' }, /\/methods\/lora\/bias: must be one of "none" \(got "all"\)/],
      ['rank 0', { r: 0 }, /\/methods\/lora\/r: must be >= 1/],
      ['an unknown key, with a suggestion', { lora_alfa: 4 }, /unknown key "lora_alfa".*Did you mean "lora_alpha"/s],
      ['an unknown init', { init_lora_weights: 'olora' }, /\/methods\/lora\/init_lora_weights/],
      ['dropout of 1', { lora_dropout: 1 }, /\/methods\/lora\/lora_dropout: must be < 1/],
    ];
    it.each(cases)('rejects %s', (_name, lora, message) => {
      expect(() => toolkit.createRun({ model: 'tiny-text', methods: { lora } })).toThrow(message);
    });

    it('fills PEFT defaults', () => {
      const run = toolkit.createRun({ model: 'tiny-text', methods: { lora: {} } });
      expect(run.config.methods.lora).toMatchObject({ r: 8, lora_alpha: 8, lora_dropout: 0, bias: 'none', use_rslora: false, use_dora: false, init_lora_weights: true });
    });

    it('a target that matches nothing fails at inject with close names', async () => {
      const run = toolkit.createRun({ model: 'tiny-text', methods: { lora: { target_modules: ['dens'], r: 2 } } });
      await expect(run.loadModel()).rejects.toThrow(/Method "lora" failed to inject into model "tiny-text": LoRA target_modules \["dens"\] matched no module.*"dense"/s);
    });
  });
});
