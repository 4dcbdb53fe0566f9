import { createToolkit, type Toolkit } from '@leantune/core';
import { tinyDataPlugin, tinyModelPlugin, maxAbsDiff, quietLog as quiet } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import adapterPlugin, { AdapterLayer, withAdaptersDisabled } from '../src';

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
      defaultTargets: expect.objectContaining({ bert: ['attention.output.dense', 'output.dense'], gpt2: ['attn.c_proj', 'mlp.c_proj'], tiny: ['dense'] }),
    });
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
    expect(maxAbsDiff(model.predict!(batch), withAdaptersDisabled(model.module, () => model.predict!(batch)))).toBe(0);

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
