import fs from 'node:fs';
import path from 'node:path';
import { createToolkit, definePlugin, type Toolkit } from '@leantune/core';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { tinyDataPlugin, tinyLoadedModel, maxAbsDiff, quietLog as quiet, claims, pathsTrainedBy, runsOfOneConfig, snapshot, tempDir } from '@leantune/testing';
import { LayerNorm, Linear, Sequential, loadSafetensors, saveSafetensors, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import lnTuning, { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, lnTuningHandle, loadLnTuning, saveLnTuning, selectLayerNorms, type LnTuningConfig } from '../src';

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
    // The run's handle holds the selection: its config (targets resolved), and trains() for exactly the norm's parameters.
    const handle = run.methods.find((m) => m.id === 'ln-tuning')!.handle;
    expect(handle.config).toEqual({ target_modules: ['encoder.dense.1'], exclude_modules: null, modules_to_save: null, running_stats: 'frozen', momentum: 0.1 });
    expect(pathsTrainedBy(handle, model.module)).toEqual(['encoder.dense.1.weight', 'encoder.dense.1.bias']);
    expect(model.module.countParameters().trainable).toBe(32);
    const data = await run.loadData();
    const loss = () => tf.tidy(() => model.loss!(model.encode!(data.splits!.train), false).dataSync()[0]);
    const before = loss();
    const counts: number[] = [];
    run.hooks.afterStep.tap('leaks', () => void counts.push(tf.memory().numTensors));
    await run.fit();
    expect(loss()).toBeLessThan(before * 0.9);
    expect(counts[counts.length - 1]).toBe(counts[2]);

    const selection = selectLayerNorms(model.module, handle.config as LnTuningConfig);
    expect(selection.modules).toEqual(['encoder.dense.1']);
    const dir = saveLnTuning(model.module, tempDir('ln-out'), selection, { baseModelNameOrPath: 'tiny-ln' });
    // The handle's save writes the same tensors.
    const viaHandle = tempDir('ln-handle');
    handle.save!(viaHandle);
    expect(fs.readFileSync(path.join(viaHandle, ADAPTER_WEIGHTS_NAME))).toEqual(fs.readFileSync(path.join(dir, ADAPTER_WEIGHTS_NAME)));
    expect(JSON.parse(fs.readFileSync(path.join(viaHandle, ADAPTER_CONFIG_NAME), 'utf8'))).toMatchObject({ peft_type: 'LN_TUNING', target_modules: ['encoder.dense.1'] });
    const { tensors } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    expect([...tensors.keys()].sort()).toEqual(['base_model.model.encoder.dense.1.ln_tuning_layers.bias', 'base_model.model.encoder.dense.1.ln_tuning_layers.weight']);
    tf.dispose([...tensors.values()]);
    expect(JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8'))).toMatchObject({ peft_type: 'LN_TUNING', target_modules: ['encoder.dense.1'], modules_to_save: null, base_model_name_or_path: 'tiny-ln' });

    const other = await toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': {} }, runtime: { seed: 6 } }).loadModel();
    const batch = model.encode!(data.records.slice(0, 8));
    expect(maxAbsDiff(other.predict!(batch), model.predict!(batch))).toBeGreaterThan(1e-4);
    expect(loadLnTuning(other.module, dir)).toEqual(selection);
    expect(maxAbsDiff(other.predict!(batch), model.predict!(batch))).toBe(0);
    // The method's load (what `--adapter` uses) gives a handle with the saved selection.
    const third = await toolkit.createRun({ model: 'tiny-ln', methods: {}, runtime: { seed: 6 } }).loadModel();
    const loaded = await toolkit.methods.get('ln-tuning')!.load!(third, dir);
    expect(loaded.config).toEqual(handle.config);
    expect(pathsTrainedBy(loaded, third.module)).toEqual(['encoder.dense.1.weight', 'encoder.dense.1.bias']);
    expect(maxAbsDiff(third.predict!(batch), model.predict!(batch))).toBe(0);

    // A file for another size names the tensor and changes nothing.
    saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), new Map([['base_model.model.encoder.dense.1.ln_tuning_layers.weight', tf.ones([8])], ['base_model.model.encoder.dense.1.ln_tuning_layers.bias', tf.ones([16])]]));
    const snap = snapshot(other.module);
    expect(() => loadLnTuning(other.module, dir)).toThrow(/tensor "base_model\.model\.encoder\.dense\.1\.ln_tuning_layers\.weight" has shape \[8\], the model needs \[16\]/);
    expect(snapshot(other.module)).toEqual(snap);
  });

  it('keeps its selection on the handle: two runs of one config object, two handles on one model', async () => {
    const config = { model: 'tiny-ln', methods: { 'ln-tuning': {} }, runtime: { seed: 6 } };
    const [first, second] = await runsOfOneConfig(toolkit, config, 'ln-tuning');
    const gain = (m: typeof first) => m.model.module.getParameter('encoder.dense.1.weight');
    expect(first.handle).not.toBe(second.handle);
    expect(first.handle.config).toEqual(second.handle.config);
    // Selection is by parameter identity: a handle never claims another model's parameter of the same path.
    expect([claims(first, 'encoder.dense.1.weight'), claims(first, 'encoder.dense.1.weight', second), claims(second, 'encoder.dense.1.weight')]).toEqual([true, false, true]);
    expect(config.methods['ln-tuning']).not.toHaveProperty('target_modules', ['encoder.dense.1']);
    // A second handle on the same module holds its own selection; one that excludes every norm is refused, and the first is unchanged.
    const m = first.model.module;
    const again = lnTuningHandle(m, selectLayerNorms(m, { target_modules: ['dense.1'] }));
    expect(again.config).toEqual(first.handle.config);
    expect(again.trains('encoder.dense.1.weight', gain(first))).toBe(true);
    expect(() => lnTuningHandle(m, selectLayerNorms(m, { exclude_modules: ['dense.1'] }))).toThrow(/found no LayerNorm, RMSNorm or BatchNorm/);
    expect(first.handle.trains('encoder.dense.1.weight', gain(first))).toBe(true);
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
      await expect(linear.loadModel()).rejects.toThrow(/LN tuning target "encoder\.dense\.0" is a Linear, not a normalisation layer; normalisation layers in this model: 1/);
    });
    it('running_stats "reestimate" needs a BatchNorm; a bad value or momentum is named', async () => {
      const ln = toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { running_stats: 'reestimate' } } });
      await expect(ln.loadModel()).rejects.toThrow(/running_stats "reestimate" re-estimates BatchNorm statistics, and no BatchNorm is selected/);
      expect(() => toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { running_stats: 'thaw' } } })).toThrow(/\/methods\/ln-tuning\/running_stats/);
      expect(() => toolkit.createRun({ model: 'tiny-ln', methods: { 'ln-tuning': { momentum: 0 } } })).toThrow(/\/methods\/ln-tuning\/momentum/);
    });
  });
});
