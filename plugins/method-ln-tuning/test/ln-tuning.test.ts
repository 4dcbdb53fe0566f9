import fs from 'node:fs';
import path from 'node:path';
import { createToolkit, definePlugin, type Toolkit } from '@leantune/core';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { tinyDataPlugin, tinyLoadedModel, maxAbsDiff, quietLog as quiet, snapshot, tempDir } from '@leantune/testing';
import { LayerNorm, Linear, Sequential, loadSafetensors, saveSafetensors, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import lnTuning, { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, loadLnTuning, saveLnTuning, selectLayerNorms, selectionFor } from '../src';

/** tiny-text with encoder.dense = Sequential(Linear, LayerNorm), so there is a LayerNorm to tune. */
const tinyLnPlugin = definePlugin({
  meta: { name: 'tiny-ln-model', version: '0.1.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.models.register({
      name: 'tiny-ln',
      models: ['tiny-ln'],
      test: (spec) => spec.name === 'tiny-ln',
      load: async () => {
        const m = tinyLoadedModel(['neg', 'pos']);
        m.module.getSubmodule('encoder.dense').dispose();
        m.module.setSubmodule('encoder.dense', new Sequential(new Linear(16, 16), new LayerNorm(16)));
        return m;
      },
    });
  },
});

describe('@leantune/plugin-ln-tuning', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyLnPlugin, tinyDataPlugin, lnTuning], trainer: createTrainDriver(), log: quiet });
  });

  it('finds every LayerNorm by type (GPT-2) or by name (BERT)', async () => {
    const gdir = tempDir('ln-gpt2');
    writeTinyHfCheckpoint('gpt2', gdir, { layers: 1, seed: 1 });
    const gpt2 = await loadHfCheckpoint(gdir, { log: quiet });
    expect(selectLayerNorms(gpt2.module).modules).toEqual(['transformer.h.0.ln_1', 'transformer.h.0.ln_2', 'transformer.ln_f']);
    const bdir = tempDir('ln-bert');
    writeTinyHfCheckpoint('bert', bdir, { layers: 1, seed: 1 });
    const bert = await loadHfCheckpoint(bdir, { log: quiet });
    expect(selectLayerNorms(bert.module, { target_modules: ['LayerNorm'], exclude_modules: ['embeddings.LayerNorm'] }).modules).toEqual([
      'bert.encoder.layer.0.attention.output.LayerNorm',
      'bert.encoder.layer.0.output.LayerNorm',
    ]);
  });

  it('trains only the LayerNorm through a Run, lowers the loss, leaks nothing; PEFT-keyed save → load restores outputs', async () => {
    const run = toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': {} }, data: { name: 'tiny-sentiment' }, train: { epochs: 6, batchSize: 8, learningRate: 0.1 }, runtime: { seed: 6 } });
    const model = await run.loadModel();
    expect([...model.module.trainableVariables().keys()]).toEqual(['encoder.dense.1.weight', 'encoder.dense.1.bias']);
    expect(model.module.countParameters().trainable).toBe(32);
    const data = await run.loadData();
    const loss = () => tf.tidy(() => model.loss!(model.encode!(data.splits!.train), false).dataSync()[0]);
    const before = loss();
    const counts: number[] = [];
    run.hooks.afterStep.tap('leaks', () => void counts.push(tf.memory().numTensors));
    await run.fit();
    expect(loss()).toBeLessThan(before * 0.9);
    expect(counts[counts.length - 1]).toBe(counts[2]);

    const dir = saveLnTuning(model.module, tempDir('ln-out'), selectionFor(run.config.methods['ln-tuning'])!, { baseModelNameOrPath: 'tiny-ln' });
    const { tensors } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    expect([...tensors.keys()].sort()).toEqual(['base_model.model.encoder.dense.1.ln_tuning_layers.bias', 'base_model.model.encoder.dense.1.ln_tuning_layers.weight']);
    tf.dispose([...tensors.values()]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8'))).toMatchObject({ peft_type: 'LN_TUNING', target_modules: ['encoder.dense.1'], modules_to_save: null, base_model_name_or_path: 'tiny-ln' });

    const other = await toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': {} }, runtime: { seed: 6 } }).loadModel();
    const batch = model.encode!(data.records.slice(0, 8));
    expect(maxAbsDiff(other.predict!(batch), model.predict!(batch))).toBeGreaterThan(1e-4);
    loadLnTuning(other.module, dir);
    expect(maxAbsDiff(other.predict!(batch), model.predict!(batch))).toBe(0);

    // A file for another size names the tensor and changes nothing.
    saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), new Map([['base_model.model.encoder.dense.1.ln_tuning_layers.weight', tf.ones([8])], ['base_model.model.encoder.dense.1.ln_tuning_layers.bias', tf.ones([16])]]));
    const snap = snapshot(other.module);
    expect(() => loadLnTuning(other.module, dir)).toThrow(/tensor "base_model\.model\.encoder\.dense\.1\.ln_tuning_layers\.weight" has shape \[8\], the model needs \[16\]/);
    expect(snapshot(other.module)).toEqual(snap);
  });

  describe('bad config', () => {
    it('fails schema validation with the field named', () => {
      expect(() => toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { target_modules: 5 } } })).toThrow(/\/methods\/ln-tuning\/target_modules/);
      expect(() => toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { target_module: ['x'] } } })).toThrow(/unknown key "target_module".*Did you mean "target_modules"/s);
    });
    it('a pattern that matches nothing lists close names; a non-LayerNorm target is refused', async () => {
      const miss = toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { target_modules: ['dens'] } } });
      await expect(miss.loadModel()).rejects.toThrow(/Method "ln-tuning" failed to inject.*LN tuning target_modules \["dens"\] matched no module.*"dense"/s);
      const linear = toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { target_modules: ['dense.0'] } } });
      await expect(linear.loadModel()).rejects.toThrow(/LN tuning target "encoder\.dense\.0" is a Linear, not a LayerNorm; LayerNorms in this model: 1/);
    });
  });
});
