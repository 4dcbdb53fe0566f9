import { createToolkit, type Toolkit } from '@leantune/core';
import { tinyDataPlugin, tinyModelPlugin, maxAbsDiff, quietLog as quiet, runsOfOneConfig } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import { Linear } from '@leantune/tensor';
import adapterPlugin, { ADAPTER_DEFAULT_TARGETS, AdapterLayer, AdapterModel } from '../src';

describe('@leantune/plugin-adapter through a core Run', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, adapterPlugin], trainer: createTrainDriver(), log: quiet });
  });

  it('registers method "adapter" with prefix, family and default targets', () => {
    expect(toolkit.methods.get('adapter')).toMatchObject({
      id: 'adapter',
      prefix: 'adapter_',
      family: 'adapter',
      defaultTargets: expect.objectContaining({ bert: ['attention.output.dense', 'output.dense'], gpt2: ['attn.c_proj', 'mlp.c_proj'] }),
    });
    // The test architecture is in no table: the run passes the tiny model's own defaultTargets (['dense']).
    expect(ADAPTER_DEFAULT_TARGETS).not.toHaveProperty('tiny');
  });

  it('wraps tiny "dense", trains only the adapter, lowers the loss, leaks nothing', async () => {
    const run = toolkit.createRun({
      model: 'tiny-text',
      methods: { adapter: { reduction_factor: 4 } },
      trainable: ['classifier\\..*'],
      data: { name: 'tiny-sentiment' },
      train: { epochs: 3, batchSize: 8, learningRate: 0.05 },
      runtime: { seed: 3 },
    });
    const model = await run.loadModel();
    expect(run.methods.map((m) => [m.id, m.from])).toEqual([['adapter', 'config']]);
    const adapters = run.methods[0].handle as AdapterModel;
    expect(adapters).toBeInstanceOf(AdapterModel);
    expect(adapters.config.target_modules).toEqual(['encoder.dense']);
    expect(model.module.getSubmodule('encoder.dense')).toBeInstanceOf(AdapterLayer);
    expect([...model.module.trainableVariables().keys()]).toEqual([
      'encoder.dense.adapter_down.weight',
      'encoder.dense.adapter_down.bias',
      'encoder.dense.adapter_up.weight',
      'encoder.dense.adapter_up.bias',
      'classifier.weight',
      'classifier.bias',
    ]);
    // dim 16, bottleneck 4: down 4×16+4, up 16×4+16 = 148; classifier 2×16+2 = 34.
    expect(model.module.countParameters().trainable).toBe(182);
    const dataset = await run.loadData();
    const batch = model.encode!(dataset.records.slice(0, 8));
    expect(maxAbsDiff(model.predict!(batch), adapters.withDisabled(() => model.predict!(batch)))).toBe(0);

    const train = dataset.splits!.train;
    const lossBefore = tf.tidy(() => model.loss!(model.encode!(train), false).dataSync()[0]);
    const frozen = Array.from(model.module.getParameter('encoder.dense.base_layer.weight').variable.dataSync());
    const counts: number[] = [];
    run.hooks.afterStep.tap('leak-check', () => void counts.push(tf.memory().numTensors));
    await run.fit();
    const lossAfter = tf.tidy(() => model.loss!(model.encode!(train), false).dataSync()[0]);
    expect(lossAfter).toBeLessThan(lossBefore * 0.9);
    expect(Array.from(model.module.getParameter('encoder.dense.base_layer.weight').variable.dataSync())).toEqual(frozen);
    expect(counts.length).toBeGreaterThan(5);
    expect(counts[counts.length - 1]).toBe(counts[2]);
  });

  it('two runs of one config object share no state', async () => {
    const config = { model: 'tiny-text', methods: { adapter: { reduction_factor: 4 } }, data: { name: 'tiny-sentiment' }, runtime: { seed: 3 } };
    const [{ model: model1, handle: first }, { model: model2, handle: second }] = await runsOfOneConfig<AdapterModel>(toolkit, config, 'adapter');
    expect(first).not.toBe(second);
    expect(second.model).toBe(model2.module);
    expect(first.config).toEqual(second.config);
    expect(config.methods.adapter).not.toHaveProperty('target_modules', ['encoder.dense']);
    first.unload();
    expect(model1.module.getSubmodule('encoder.dense')).toBeInstanceOf(Linear);
    expect(model2.module.getSubmodule('encoder.dense')).toBeInstanceOf(AdapterLayer);
    expect(second.layers().map(([p]) => p)).toEqual(['encoder.dense']);
    expect([...model2.module.trainableVariables().keys()]).toEqual(['encoder.dense.adapter_down.weight', 'encoder.dense.adapter_down.bias', 'encoder.dense.adapter_up.weight', 'encoder.dense.adapter_up.bias']);
  });

  describe('config validation', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['an unknown preset', { config: 'houlsbi' }, /\/methods\/adapter\/config: must be one of "houlsby", "pfeiffer", "parallel" \(got "houlsbi"\)/],
      ['an unknown non-linearity', { non_linearity: 'softsign' }, /\/methods\/adapter\/non_linearity: must be one of/],
      ['a zero reduction factor', { reduction_factor: 0 }, /\/methods\/adapter\/reduction_factor: must be > 0/],
      ['an unknown key', { reduction_factr: 4 }, /unknown key "reduction_factr".*Did you mean "reduction_factor"/s],
    ];
    it.each(cases)('rejects %s', (_name, adapter, message) => {
      expect(() => toolkit.createRun({ model: 'tiny-text', methods: { adapter } })).toThrow(message);
    });

    it('a target that matches nothing fails at inject with close names', async () => {
      const run = toolkit.createRun({ model: 'tiny-text', methods: { adapter: { target_modules: ['dens'] } } });
      await expect(run.loadModel()).rejects.toThrow(/Method "adapter" failed to inject into model "tiny-text": Adapter target_modules \["dens"\] matched no module.*"dense"/s);
    });
  });
});
