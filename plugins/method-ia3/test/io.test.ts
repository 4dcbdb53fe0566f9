import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { loadSafetensors, saveSafetensors, setSeed, tf } from '@leantune/tensor';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, ia3Layers, injectIa3, loadIa3, saveIa3 } from '../src';
import { gpt2Like, maxAbsDiff, quietLog as quiet, randn, snapshot, tempDir, textRecords } from '@leantune/testing';

describe('IA3 files (PEFT format)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(8);
  });

  it('save → load onto a fresh base gives identical outputs; keys and config are PEFT\'s', async () => {
    const ckpt = tempDir('ia3-io');
    writeTinyHfCheckpoint('roberta', ckpt, { layers: 1, seed: 3 });
    const a = await loadHfCheckpoint(ckpt, { log: quiet });
    const ia3 = injectIa3(a.module, {}, { arch: 'roberta' });
    for (const [i, [, l]] of ia3Layers(a.module).entries()) l.vector.assign(tf.add(1, randn(l.vector.shape, i)));
    const dir = saveIa3(ia3, tempDir('ia3-out'), { baseModelNameOrPath: 'tiny-roberta', taskType: 'SEQ_CLS' });
    const { tensors } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    expect([...tensors.entries()].map(([k, v]) => [k, v.shape]).sort()).toEqual([
      ['base_model.model.roberta.encoder.layer.0.attention.output.dense.ia3_l', [1, 8]],
      ['base_model.model.roberta.encoder.layer.0.attention.self.key.ia3_l', [8, 1]],
      ['base_model.model.roberta.encoder.layer.0.attention.self.value.ia3_l', [8, 1]],
      ['base_model.model.roberta.encoder.layer.0.output.dense.ia3_l', [1, 16]],
    ]);
    tf.dispose([...tensors.values()]);
    const json = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8'));
    expect(json).toMatchObject({ peft_type: 'IA3', task_type: 'SEQ_CLS', base_model_name_or_path: 'tiny-roberta', init_ia3_weights: true, fan_in_fan_out: false, modules_to_save: null });
    // What PEFT saves: the names (here the roberta table's, filled in by _prepare_adapter_config), not resolved paths.
    expect([json.target_modules, json.feedforward_modules]).toEqual([['key', 'value', 'output.dense'], ['output.dense']]);
    // Every field of PEFT 0.18.0's IA3Config.to_dict, and the format version we follow.
    expect(Object.keys(json).sort()).toEqual(
      ['peft_type', 'task_type', 'base_model_name_or_path', 'revision', 'inference_mode', 'auto_mapping', 'peft_version', 'target_modules', 'exclude_modules', 'feedforward_modules', 'fan_in_fan_out', 'modules_to_save', 'init_ia3_weights'].sort(),
    );
    expect(json.peft_version).toBe('0.18.0');

    const b = await loadHfCheckpoint(ckpt, { log: quiet });
    const loaded = loadIa3(b.module, dir);
    // The handle load returns holds the config read from the folder: the saved handle's.
    expect(loaded.model).toBe(b.module);
    expect(loaded.config).toEqual(ia3.config);
    expect(loaded.layers().map(([p]) => p)).toEqual(ia3.layers().map(([p]) => p));
    const batch = a.encode!(textRecords());
    expect(maxAbsDiff(b.predict!(batch), a.predict!(batch))).toBe(0);
    expect(b.module.getParameter('roberta.encoder.layer.0.output.dense.ia3_l.default').requiresGrad).toBe(false);
  });

  it('loads a config written the way PEFT writes it (target names, not paths)', () => {
    setSeed(42);
    const a = gpt2Like(8, 2);
    const ia3 = injectIa3(a, {}, { arch: 'gpt2' });
    ia3Layers(a).forEach(([, l], i) => l.vector.assign(randn(l.vector.shape, 20 + i)));
    const dir = saveIa3(ia3, tempDir('ia3-peft'));
    const file = path.join(dir, ADAPTER_CONFIG_NAME);
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    // Names that match no module fail, naming the close ones; the model is untouched.
    fs.writeFileSync(file, JSON.stringify({ ...json, target_modules: ['c_proh'], feedforward_modules: ['c_proh'] }));
    setSeed(42); // the same base weights as `a`
    const b = gpt2Like(8, 2);
    const before = snapshot(b);
    expect(() => loadIa3(b, dir)).toThrow(/adapter_config\.json does not fit this model: IA3 target_modules \["c_proh"\] matched no module.*"c_proj"/s);
    expect(snapshot(b)).toEqual(before);
    // PEFT writes module names (a set), not our resolved paths; both load the same.
    fs.writeFileSync(file, JSON.stringify({ ...json, target_modules: ['mlp.c_proj'], feedforward_modules: ['mlp.c_proj'] }));
    const loaded = loadIa3(b, dir);
    // The names as the file has them, matched to the same layers as the saving handle's.
    expect(loaded.config.target_modules).toEqual(['mlp.c_proj']);
    expect(loaded.layers().map(([p, l]) => [p, l.isFeedforward])).toEqual(ia3.layers().map(([p, l]) => [p, l.isFeedforward]));
    const x = randn([2, 8], 1);
    expect(maxAbsDiff(b.forward(x), a.forward(x))).toBe(0);
  });

  it('a weights file that does not fit names the tensor and leaves the model as it was', () => {
    const a = gpt2Like(8, 1);
    const ia3 = injectIa3(a, { target_modules: ['c_fc'] });
    const dir = saveIa3(ia3, tempDir('ia3-bad'));
    const weights = path.join(dir, ADAPTER_WEIGHTS_NAME);
    saveSafetensors(weights, new Map([['base_model.model.transformer.h.0.mlp.c_fc.ia3_l', tf.ones([1, 8])]]));
    const b = gpt2Like(8, 1);
    const before = snapshot(b);
    expect(() => loadIa3(b, dir)).toThrow(/tensor "base_model\.model\.transformer\.h\.0\.mlp\.c_fc\.ia3_l" has shape \[1,8\], the model needs \[16,1\]/);
    expect(snapshot(b)).toEqual(before);
    expect(ia3Layers(b)).toEqual([]);
    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), JSON.stringify({ peft_type: 'LORA' }));
    expect(() => loadIa3(b, dir)).toThrow(/peft_type "LORA" is not supported; @leantune\/plugin-ia3 loads "IA3"/);
  });
});
