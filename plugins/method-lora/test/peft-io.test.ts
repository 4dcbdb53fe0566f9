import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSafetensorsHeader, saveSafetensors, setSeed, tf, type Module } from '@leantune/tensor';
import { injectLora } from '../src/model';
import { LoraLinear } from '../src/lora-linear';
import { loadAdapter, saveAdapter } from '../src/peft-io';
import { maxAbsDiff, randn } from '@leantune/testing';
import { gpt2Like, mlp } from './helpers';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'lt-lora-'));

function randomizeAdapter(model: Module, seed: number): void {
  for (const [p, param] of model.namedParameters()) {
    if (p.includes('lora_') || p.includes('modules_to_save')) param.variable.assign(randn(param.shape, seed++));
  }
}

/** Copies base weights from one model to another of the same architecture. */
function copyBase(from: Module, to: Module): void {
  to.loadStateDict(new Map([...from.namedParameters()].map(([p, v]) => [p, v.variable])));
}

describe('PEFT adapter files', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(11);
  });

  it('writes PEFT\'s keys (adapter name removed, base_model.model. prefix) and config fields', () => {
    const model = gpt2Like(8, 2, 5);
    const lora = injectLora(model, { target_modules: ['c_attn'], r: 2, lora_alpha: 4, use_dora: true, modules_to_save: ['lm_head'] });
    const dir = saveAdapter(lora, tmp(), { baseModelNameOrPath: 'gpt2', taskType: 'CAUSAL_LM' });
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    expect(Object.fromEntries([...header.tensors].map(([k, v]) => [k, v.shape]))).toEqual({
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight': [2, 8],
      'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight': [24, 2],
      'base_model.model.transformer.h.0.attn.c_attn.lora_magnitude_vector': [24],
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight': [2, 8],
      'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight': [24, 2],
      'base_model.model.transformer.h.1.attn.c_attn.lora_magnitude_vector': [24],
      'base_model.model.lm_head.weight': [5, 8],
    });
    expect(header.metadata).toEqual({ format: 'pt' });
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(json).toMatchObject({
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: 'gpt2',
      r: 2,
      lora_alpha: 4,
      lora_dropout: 0,
      target_modules: ['c_attn'],
      fan_in_fan_out: true,
      bias: 'none',
      use_rslora: false,
      use_dora: true,
      modules_to_save: ['lm_head'],
      init_lora_weights: true,
      rank_pattern: {},
      alpha_pattern: {},
      inference_mode: true,
    });
  });

  it('writes every field of PEFT 0.18.0\'s LoraConfig.to_dict, with peft_version, and the targets as written', () => {
    const model = gpt2Like(8, 1, 5);
    const lora = injectLora(model, { target_modules: ['c_fc', 'c_attn', 'c_fc'], r: 2 });
    const json = JSON.parse(fs.readFileSync(path.join(saveAdapter(lora, tmp()), 'adapter_config.json'), 'utf8'));
    // PEFT v0.18.0: PeftConfigMixin/PeftConfig fields, then LoraConfig's (to_dict drops runtime_config).
    const peft0180 = [
      'peft_type', 'task_type', 'base_model_name_or_path', 'revision', 'inference_mode', 'auto_mapping', 'peft_version',
      'r', 'target_modules', 'exclude_modules', 'lora_alpha', 'lora_dropout', 'fan_in_fan_out', 'bias', 'use_rslora', 'modules_to_save',
      'init_lora_weights', 'layers_to_transform', 'layers_pattern', 'rank_pattern', 'alpha_pattern', 'megatron_config', 'megatron_core',
      'trainable_token_indices', 'loftq_config', 'eva_config', 'corda_config', 'use_dora', 'alora_invocation_tokens', 'use_qalora',
      'qalora_group_size', 'layer_replication', 'lora_bias', 'target_parameters', 'arrow_config', 'ensure_weight_tying',
    ];
    expect(Object.keys(json).sort()).toEqual([...peft0180].sort());
    expect(json).toMatchObject({ peft_version: '0.18.0', target_modules: ['c_attn', 'c_fc'], target_parameters: null, lora_bias: false, trainable_token_indices: null, exclude_modules: null });
  });

  it('decides each newer PEFT field: exclude_modules loads, target_parameters / lora_bias / trainable_token_indices are refused naming the field', () => {
    const model = gpt2Like(8, 2, 5);
    const fresh = gpt2Like(8, 2, 5);
    copyBase(model, fresh);
    const lora = injectLora(model, { target_modules: ['c_attn', 'c_fc'], exclude_modules: ['h.1.mlp.c_fc'], r: 2 });
    randomizeAdapter(model, 600);
    const dir = saveAdapter(lora, tmp());
    const file = path.join(dir, 'adapter_config.json');
    const json = JSON.parse(fs.readFileSync(file, 'utf8'));
    expect(json.exclude_modules).toEqual(['h.1.mlp.c_fc']);
    for (const [field, value] of [['target_parameters', ['mlp.experts.weight']], ['lora_bias', true], ['trainable_token_indices', [0, 3]]] as const) {
      fs.writeFileSync(file, JSON.stringify({ ...json, [field]: value }));
      expect(() => loadAdapter(gpt2Like(8, 2, 5), dir)).toThrow(new RegExp(`${field} = ${JSON.stringify(value).replace(/[[\]]/g, '\\$&')} is not supported by @leantune/plugin-lora; only adapters with ${field} unset load`));
    }
    fs.writeFileSync(file, JSON.stringify(json));
    const loaded = loadAdapter(fresh, dir);
    expect(loaded.layers().map(([p]) => p)).toEqual(lora.layers().map(([p]) => p));
    expect(loaded.layers().map(([p]) => p)).not.toContain('transformer.h.1.mlp.c_fc');
    const x = randn([3, 8], 2);
    expect(maxAbsDiff(fresh.forward(x), model.forward(x))).toBe(0);
  });

  it('save → load onto a fresh copy of the base model gives identical outputs', () => {
    const model = gpt2Like(8, 2, 5);
    const fresh = gpt2Like(8, 2, 5);
    copyBase(model, fresh);
    const lora = injectLora(model, { target_modules: 'all-linear', r: 2, use_dora: true, modules_to_save: ['lm_head'] });
    randomizeAdapter(model, 100);
    const dir = saveAdapter(lora, tmp());
    const loaded = loadAdapter(fresh, dir);
    // The handle load returns holds the config read from the folder, as the saved handle had it.
    expect(loaded.model).toBe(fresh);
    expect(loaded.adapterConfig()).toEqual(lora.adapterConfig());
    const x = randn([3, 8], 1);
    expect(maxAbsDiff(fresh.forward(x), model.forward(x))).toBe(0);
    // Loaded for inference by default (PEFT's is_trainable=False).
    expect(fresh.countParameters().trainable).toBe(0);
  });

  // PEFT's test_lora_pissa_conversion_same_output_after_loading: from_pretrained runs pissa_init
  // on the base again (W ← W − s·B₀A₀), then loads the trained A and B.
  it.each(['pissa', 'pissa_niter_3'])('a %s adapter loads onto the residual base, as PEFT\'s from_pretrained: same outputs after perturbed A, B', (init) => {
    const model = gpt2Like(8, 2, 5);
    const fresh = gpt2Like(8, 2, 5);
    copyBase(model, fresh);
    const x = randn([3, 8], 7);
    const lora = injectLora(model, { target_modules: ['c_attn', 'c_fc'], r: 2, lora_alpha: 4, init_lora_weights: init });
    // "Training": A and B move away from the principal part they started at.
    let seed = 500;
    for (const [p, param] of model.namedParameters()) {
      if (p.includes('.lora_')) param.variable.assign(tf.add(param.variable, tf.mul(randn(param.shape, seed++), 0.3)));
    }
    const dir = saveAdapter(lora, tmp());
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8')).init_lora_weights).toBe(init);
    loadAdapter(fresh, dir);
    // The loaded base is the residual the saved model trained on, bit for bit (same SVD on the same W).
    for (const p of ['transformer.h.0.attn.c_attn.base_layer.weight', 'transformer.h.1.mlp.c_fc.base_layer.weight']) {
      expect(maxAbsDiff(fresh.getParameter(p).variable, model.getParameter(p).variable)).toBe(0);
    }
    expect(maxAbsDiff(fresh.forward(x), model.forward(x))).toBeLessThan(1e-5);
  });

  it('saves a non-default adapter into a subfolder named after it, and loads it under any name', () => {
    const model = mlp();
    const fresh = mlp();
    copyBase(model, fresh);
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2 });
    lora.addAdapter({ target_modules: ['fc2'], r: 3 }, { adapterName: 'task2' });
    randomizeAdapter(model, 200);
    const root = tmp();
    expect(saveAdapter(lora, root, { adapterName: 'task2' })).toBe(path.join(root, 'task2'));
    const keys = [...readSafetensorsHeader(path.join(root, 'task2', 'adapter_model.safetensors')).tensors.keys()];
    expect(keys).toEqual(['base_model.model.fc2.lora_A.weight', 'base_model.model.fc2.lora_B.weight']);
    const loaded = loadAdapter(fresh, path.join(root, 'task2'), { adapterName: 'task2', isTrainable: true });
    expect([loaded.adapterNames(), loaded.activeAdapters()]).toEqual([['task2'], ['task2']]);
    expect([...fresh.trainableVariables().keys()]).toEqual(['fc2.lora_A.task2.weight', 'fc2.lora_B.task2.weight']);
    expect(maxAbsDiff(fresh.getParameter('fc2.lora_B.task2.weight').variable, model.getParameter('fc2.lora_B.task2.weight').variable)).toBe(0);
  });

  it('loads onto an existing LoraModel as another named adapter, inactive until setAdapter', () => {
    const model = mlp();
    const fresh = mlp();
    copyBase(model, fresh);
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2 });
    randomizeAdapter(model, 300);
    const dir = saveAdapter(lora, tmp());
    const x = randn([3, 6], 4);
    const expected = model.forward(x);
    const target = injectLora(fresh, { target_modules: ['fc2'], r: 2 });
    const base = fresh.forward(x);
    expect(loadAdapter(target, dir, { adapterName: 'loaded' })).toBe(target);
    expect([target.adapterNames(), target.activeAdapters()]).toEqual([['default', 'loaded'], ['default']]);
    expect(maxAbsDiff(fresh.forward(x), base)).toBe(0);
    target.setAdapter('loaded');
    expect(maxAbsDiff(fresh.forward(x), expected)).toBeLessThan(1e-6);
    expect(() => loadAdapter(target, dir, { adapterName: 'loaded' })).toThrow(/LoRA adapter "loaded" already exists on this model/);
    // The source handle is untouched by all of it.
    expect([lora.adapterNames(), lora.activeAdapters()]).toEqual([['default'], ['default']]);
  });

  describe('a bad adapter fails clearly and leaves the model untouched', () => {
    function expectUntouched(model: Module, act: () => void, message: RegExp): void {
      const before = [...model.namedParameters()].map(([p, v]) => [p, Array.from(v.variable.dataSync())]);
      expect(act).toThrow(message);
      expect([...model.namedParameters()].map(([p, v]) => [p, Array.from(v.variable.dataSync())])).toEqual(before);
      expect([...model.namedModules()].some(([, m]) => m instanceof LoraLinear)).toBe(false);
    }

    it('wrong architecture: target modules not in the model', () => {
      const src = gpt2Like();
      const lora = injectLora(src, { target_modules: ['c_attn'] });
      const dir = saveAdapter(lora, tmp());
      expectUntouched(mlp(), () => loadAdapter(mlp(), dir), /does not fit this model: .*matched no module/s);
      const target = mlp();
      expectUntouched(target, () => loadAdapter(target, dir), /Linear layers in this model: fc1, fc2/);
    });

    it('wrong size: same names, other shapes', () => {
      const src = gpt2Like(8);
      const lora = injectLora(src, { target_modules: ['c_attn'], r: 2 });
      const dir = saveAdapter(lora, tmp());
      const target = gpt2Like(4);
      expectUntouched(target, () => loadAdapter(target, dir), /tensor "base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight" has shape \[2,8\], the model needs \[2,4\]/);
    });

    it('missing and unexpected tensors are listed with the closest names', () => {
      const src = mlp();
      const lora = injectLora(src, { target_modules: ['fc1'], r: 2 });
      const dir = saveAdapter(lora, tmp());
      saveSafetensors(path.join(dir, 'adapter_model.safetensors'), {
        'base_model.model.fc1.lora_A.weight': tf.zeros([2, 6]),
        'base_model.model.fc1.lora_B.weihgt': tf.zeros([8, 2]),
      });
      const target = mlp();
      expectUntouched(target, () => loadAdapter(target, dir), /missing tensor "base_model\.model\.fc1\.lora_B\.weight" \(closest: "base_model\.model\.fc1\.lora_B\.weihgt"\)/);
    });

    it('a peft_type we do not load, with the close candidate named', () => {
      const src = mlp();
      const lora = injectLora(src, { target_modules: ['fc1'], r: 2 });
      const dir = saveAdapter(lora, tmp());
      const file = path.join(dir, 'adapter_config.json');
      const json = JSON.parse(fs.readFileSync(file, 'utf8'));
      fs.writeFileSync(file, JSON.stringify({ ...json, peft_type: 'LORAA' }));
      const target = mlp();
      expectUntouched(target, () => loadAdapter(target, dir), /peft_type "LORAA" is not supported; @leantune\/plugin-lora loads "LORA" adapters\. Did you mean "LORA"\?/);
      fs.writeFileSync(file, JSON.stringify({ ...json, peft_type: 'IA3' }));
      expectUntouched(target, () => loadAdapter(target, dir), /"IA3" is a PEFT method, but not one this plugin loads/);
      fs.writeFileSync(file, JSON.stringify({ ...json, lora_bias: true }));
      expectUntouched(target, () => loadAdapter(target, dir), /lora_bias = true is not supported/);
    });
  });
});
