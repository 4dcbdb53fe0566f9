import fs from 'node:fs';
import path from 'node:path';
import type { Module } from '@leantune/tensor';
import { injectLora, loadAdapter, LoraModel, type LoraConfig } from '../src';
import { snapshot } from '@leantune/testing';
import { describePeftCompat, describePeftRead, describeWithNumpy, runCompatCase, type CompatCase } from './peft-compat/cases';

// Adapter folders written as PEFT 0.18.0 writes them, by an independent NumPy re-implementation
// (test/peft-compat/write_peft_adapter.py); skipped where python3 has no NumPy (failed instead under CI=true).
const CASES: CompatCase[] = [
  { name: 'LoRA', arch: 'gpt2', peftType: 'LORA', config: { target_modules: ['c_attn', 'c_proj'], r: 4, lora_alpha: 8 } },
  { name: 'rsLoRA + rank/alpha patterns', arch: 'gpt2', peftType: 'LORA', config: { target_modules: ['c_attn', 'c_fc'], r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { c_fc: 2 }, alpha_pattern: { 'h.1.attn.c_attn': 3 } } },
  { name: 'DoRA', arch: 'gpt2', peftType: 'LORA', config: { target_modules: ['c_attn'], r: 2, lora_alpha: 4, use_dora: true } },
  { name: 'PiSSA', arch: 'gpt2', peftType: 'LORA', config: { target_modules: ['c_fc'], r: 2, lora_alpha: 4, init_lora_weights: 'pissa' } },
  { name: 'LoRA, layers_to_transform', arch: 'bert', peftType: 'LORA', config: { target_modules: ['query', 'value'], r: 2, lora_alpha: 4, layers_to_transform: [1], layers_pattern: 'layer' } },
  { name: 'DoRA, regex targets, named adapter in a subfolder', arch: 'bert', peftType: 'LORA', adapterName: 'task2', config: { target_modules: '.*attention\\.self\\.(query|key)', r: 2, lora_alpha: 2, use_dora: true } },
  { name: 'LoRA on Embedding (wte) + Conv1D', arch: 'gpt2', peftType: 'LORA', config: { target_modules: ['wte', 'c_attn'], r: 2, lora_alpha: 4 } },
  { name: 'LoRA + modules_to_save', arch: 'bert', peftType: 'LORA', config: { target_modules: ['query'], r: 2, lora_alpha: 4, modules_to_save: ['classifier'] } },
  { name: 'LoRA on Embedding (word_embeddings) + Linear', arch: 'bert', peftType: 'LORA', config: { target_modules: ['word_embeddings', 'value'], r: 2, lora_alpha: 4 } },
  { name: 'LoRA on Conv2d (MobileNetV2 stem, expand, project)', arch: 'conv', peftType: 'LORA', config: { target_modules: 'features\\.[0-3]\\.(conv|expand\\.conv|project\\.conv)', r: 2, lora_alpha: 4 } },
  { name: 'LoRA on Conv2d, rsLoRA + rank pattern', arch: 'conv', peftType: 'LORA', config: { target_modules: ['features.0.conv', 'project.conv'], r: 4, lora_alpha: 8, use_rslora: true, rank_pattern: { 'project.conv': 2 } } },
];

const handles = new WeakMap<Module, LoraModel>();

describePeftCompat(
  'PEFT compatibility: LoRA adapters written as PEFT writes them load into leantune with PEFT\'s outputs',
  CASES,
  100,
  (model, folder, adapterName) => void handles.set(model, loadAdapter(model, folder, { adapterName })),
  (c, r) => {
    expect(handles.get(r.model)!.adapterNames()).toEqual([c.adapterName ?? 'default']);
    expect(JSON.parse(fs.readFileSync(path.join(r.folder, 'adapter_config.json'), 'utf8')).peft_version).toBe('0.18.0');
  },
);

// The other way: what leantune saves, read as PEFT 0.18.0 loads it (fields, keys, shapes, outputs).
describePeftRead(
  'PEFT compatibility: LoRA folders leantune writes read as PEFT 0.18.0 loads them',
  // (Named adapters and modules_to_save stay with the write direction.)
  CASES.filter((c) => !c.adapterName && !c.config.modules_to_save),
  300,
  (model, c) => injectLora(model, c.config as Partial<LoraConfig>),
);

describeWithNumpy('PEFT compatibility: folders of other PEFT types', () => {
  it('an LN_TUNING folder given to the LoRA loader is refused as a known PEFT type this plugin does not load; the model is untouched', async () => {
    const c: CompatCase = { name: 'LN tuning for LoRA', arch: 'gpt2', peftType: 'LN_TUNING', config: {} };
    await runCompatCase(c, 800, (model, folder) => {
      const before = snapshot(model);
      expect(() => loadAdapter(model, folder)).toThrow(/peft_type "LN_TUNING" is not supported \("LN_TUNING" is a PEFT method, but not one this plugin loads\); @leantune\/plugin-lora loads "LORA" adapters/);
      expect(snapshot(model)).toEqual(before);
    });
  });
});
