import fs from 'node:fs';
import path from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { loadSafetensors, saveSafetensors, setSeed, tf } from '@leantune/tensor';
import { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, AdapterLayer, injectAdapter, loadAdapter, saveAdapter } from '../src';
import { gpt2Like, maxAbsDiff, quietLog as quiet, randn, snapshot, tempDir, textRecords } from '@leantune/testing';

describe('adapter files', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(9);
  });

  it('save → load onto a fresh copy of the base gives identical outputs (BERT, Houlsby)', async () => {
    const ckpt = tempDir('adapter-io-bert');
    writeTinyHfCheckpoint('bert', ckpt, { layers: 1, seed: 5 });
    const a = await loadHfCheckpoint(ckpt, { log: quiet });
    const adapters = injectAdapter(a.module, { config: 'houlsby', reduction_factor: 4, non_linearity: 'gelu' }, { arch: 'bert' });
    for (const [p, param] of a.module.namedParameters()) if (p.includes('adapter_')) param.variable.assign(randn(param.shape, p.length));
    const dir = saveAdapter(adapters, tempDir('adapter-out'), { baseModelNameOrPath: 'tiny-bert' });

    const { tensors, metadata } = loadSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME));
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()].sort()).toEqual(
      ['bert.encoder.layer.0.attention.output.dense', 'bert.encoder.layer.0.output.dense']
        .flatMap((m) => ['adapter_down.weight', 'adapter_down.bias', 'adapter_up.weight', 'adapter_up.bias'].map((k) => `base_model.model.${m}.${k}`))
        .sort(),
    );
    expect(tensors.get('base_model.model.bert.encoder.layer.0.output.dense.adapter_down.weight')!.shape).toEqual([2, 8]);
    tf.dispose([...tensors.values()]);
    const json = JSON.parse(fs.readFileSync(path.join(dir, ADAPTER_CONFIG_NAME), 'utf8'));
    expect(json).toMatchObject({ peft_type: 'BOTTLENECK', config: 'houlsby', reduction_factor: 4, non_linearity: 'gelu', base_model_name_or_path: 'tiny-bert', is_parallel: false });

    const b = await loadHfCheckpoint(ckpt, { log: quiet });
    const loaded = loadAdapter(b.module, dir);
    // The handle load returns holds the config read from the folder: the saved handle's.
    expect(loaded.model).toBe(b.module);
    expect(loaded.config).toEqual(adapters.config);
    expect(loaded.layers().map(([p]) => p)).toEqual(adapters.layers().map(([p]) => p));
    const batch = a.encode!(textRecords());
    expect(maxAbsDiff(b.predict!(batch), a.predict!(batch))).toBe(0);
    expect(b.module.getParameter('bert.encoder.layer.0.output.dense.adapter_up.weight').requiresGrad).toBe(false);
  });

  it('a file that does not fit names the tensor and leaves the model as it was', () => {
    const a = gpt2Like(8, 1);
    const adapters = injectAdapter(a, { config: 'pfeiffer', reduction_factor: 2 }, { arch: 'gpt2' });
    const dir = saveAdapter(adapters, tempDir('adapter-bad'));
    const weights = path.join(dir, ADAPTER_WEIGHTS_NAME);
    const { tensors } = loadSafetensors(weights);
    const key = 'base_model.model.transformer.h.0.mlp.c_proj.adapter_up.weight';
    const renamed = new Map([...tensors].map(([k, v]) => [k === key ? key.replace('adapter_up', 'adapter_upp') : k, v]));
    saveSafetensors(weights, renamed);
    tf.dispose([...tensors.values()]);

    const b = gpt2Like(8, 1);
    const before = snapshot(b);
    expect(() => loadAdapter(b, dir)).toThrow(/missing tensor "base_model\.model\.transformer\.h\.0\.mlp\.c_proj\.adapter_up\.weight" \(closest: ".*adapter_upp\.weight"\)/);
    expect(snapshot(b)).toEqual(before);
    expect([...b.namedModules()].some(([, m]) => m instanceof AdapterLayer)).toBe(false);

    fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), JSON.stringify({ peft_type: 'LORA' }));
    expect(() => loadAdapter(b, dir)).toThrow(/peft_type "LORA" is not "BOTTLENECK"/);
    expect(() => loadAdapter(b, tempDir('empty'))).toThrow(/adapter_config\.json does not exist/);
  });
});
