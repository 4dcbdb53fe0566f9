import { Linear, setSeed, tf, type Module } from '@leantune/tensor';
import { injectLora, isLoraParameterPath, planLora } from '../src/model';
import { LoraLinear } from '../src/lora-linear';
import { maxAbsDiff, randn } from '@leantune/testing';
import { gpt2Like, mlp } from './helpers';

function paramPaths(m: Module): string[] {
  return [...m.namedParameters()].map(([p]) => p);
}

function snapshot(m: Module): Array<[string, number[]]> {
  return [...m.namedParameters()].map(([p, v]) => [p, Array.from(v.variable.dataSync())]);
}

describe('injectLora', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(5);
  });

  it('gives GPT-2 naming exactly PEFT\'s in-memory parameter names', () => {
    const model = gpt2Like();
    injectLora(model, { target_modules: ['c_attn'], r: 2 });
    expect(paramPaths(model).filter((p) => p.includes('.h.0.attn.c_attn.'))).toEqual([
      'transformer.h.0.attn.c_attn.base_layer.weight',
      'transformer.h.0.attn.c_attn.base_layer.bias',
      'transformer.h.0.attn.c_attn.lora_A.default.weight',
      'transformer.h.0.attn.c_attn.lora_B.default.weight',
    ]);
    expect(model.getSubmodule('transformer.h.1.attn.c_attn')).toBeInstanceOf(LoraLinear);
    expect(model.getSubmodule('transformer.h.1.attn.c_proj')).not.toBeInstanceOf(LoraLinear);
  });

  it('keeps the forward at init and makes only LoRA parameters trainable (counts)', () => {
    const model = gpt2Like(8, 2);
    const x = randn([3, 8], 1);
    const before = model.forward(x);
    injectLora(model, { target_modules: ['c_attn', 'c_fc'], r: 4 });
    expect(maxAbsDiff(model.forward(x), before)).toBe(0);
    const trainable = [...model.trainableVariables().keys()];
    expect(trainable.every((p) => /\.lora_[AB]\.default\.weight$/.test(p))).toBe(true);
    // per block: c_attn A 4×8 + B 24×4, c_fc A 4×8 + B 16×4 → 32+96+32+64 = 224; two blocks.
    expect(model.countParameters().trainable).toBe(448);
  });

  it('matches list entries by exact path or dotted suffix, strings by full-match regex', () => {
    const bySuffix = planLora(gpt2Like(), { target_modules: ['attn.c_proj'] });
    expect(bySuffix.targets.map((t) => t.path)).toEqual(['transformer.h.0.attn.c_proj', 'transformer.h.1.attn.c_proj']);
    const byRegex = planLora(gpt2Like(), { target_modules: '.*\\.h\\.1\\..*c_proj' });
    expect(byRegex.targets.map((t) => t.path)).toEqual(['transformer.h.1.attn.c_proj', 'transformer.h.1.mlp.c_proj']);
    // A regex must match the whole path: "c_proj" alone matches nothing.
    expect(() => planLora(gpt2Like(), { target_modules: 'c_proj' })).toThrow(/matched no module/);
  });

  it('"all-linear" takes every Linear/Conv1D except the output head (lm_head)', () => {
    const plan = planLora(gpt2Like(8, 1), { target_modules: 'all-linear' });
    expect(plan.targets.map((t) => t.path)).toEqual([
      'transformer.h.0.attn.c_attn',
      'transformer.h.0.attn.c_proj',
      'transformer.h.0.mlp.c_fc',
      'transformer.h.0.mlp.c_proj',
    ]);
    expect(plan.config.target_modules).toEqual([...plan.targets.map((t) => t.path)].sort());
    expect(plan.config.fan_in_fan_out).toBe(true);
  });

  it('honours exclude_modules, layers_to_transform with layers_pattern, rank_pattern and alpha_pattern', () => {
    const plan = planLora(gpt2Like(8, 3), {
      target_modules: ['c_attn', 'c_proj'],
      exclude_modules: ['mlp.c_proj'],
      layers_to_transform: [0, 2],
      layers_pattern: 'h',
      r: 2,
      lora_alpha: 4,
      rank_pattern: { 'attn.c_proj': 4 },
      alpha_pattern: { c_attn: 1 },
    });
    expect(plan.targets.map((t) => [t.path, t.settings.r, t.settings.scaling])).toEqual([
      ['transformer.h.0.attn.c_attn', 2, 0.5],
      ['transformer.h.0.attn.c_proj', 4, 1],
      ['transformer.h.2.attn.c_attn', 2, 0.5],
      ['transformer.h.2.attn.c_proj', 4, 1],
    ]);
  });

  it('uses lora_alpha/√r with use_rslora', () => {
    const plan = planLora(mlp(), { target_modules: ['fc1'], r: 4, lora_alpha: 8, use_rslora: true });
    expect(plan.targets[0].settings.scaling).toBe(4);
  });

  it('falls back to the architecture default targets when target_modules is unset', () => {
    const plan = planLora(gpt2Like(), {}, { arch: 'gpt2', defaultTargets: ['c_attn'] });
    expect(plan.targets).toHaveLength(2);
    expect(() => planLora(gpt2Like(), {}, { arch: 'mystery' })).toThrow(/target_modules is not set and architecture "mystery" has no default targets/);
  });

  describe('bad input leaves the model untouched', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a target that matches nothing (close names listed)', { target_modules: ['c_atn'] }, /matched no module.*Close module names: "c_attn"/s],
      ['a rank larger than the layer', { target_modules: ['c_attn'], r: 9 }, /r=9 for "transformer\.h\.0\.attn\.c_attn" exceeds its dimensions \(8→24, at most 8\)/],
      // Outside a run (no schema pass) the rank's upper bound is checked too.
      ['a rank beyond any layer', { target_modules: ['c_attn'], r: 1e308 }, /r must be an integer from 1 to 4096, got 1e\+308/],
      ['a non-linear target', { target_modules: ['attn'] }, /"transformer\.h\.0\.attn" is a Node; only Linear, Conv1D, Embedding and Conv2d.*"c_attn"/s],
      ['bias "all"', { target_modules: ['c_attn'], bias: 'all' }, /bias "all" is not supported; only "none"/],
      ['an unknown modules_to_save', { target_modules: ['c_attn'], modules_to_save: ['lm_haed'] }, /modules_to_save entry "lm_haed" matches no module.*"lm_head"/s],
      ['layers_to_transform with a regex target', { target_modules: '.*c_attn', layers_to_transform: [0] }, /layers_to_transform cannot be used when target_modules is a string/],
      ['a bad init', { target_modules: ['c_attn'], init_lora_weights: 'olora' }, /init_lora_weights "olora" is not supported/],
    ];
    it.each(cases)('%s', (_name, cfg, message) => {
      const model = gpt2Like();
      const before = snapshot(model);
      expect(() => injectLora(model, cfg)).toThrow(message);
      expect(snapshot(model)).toEqual(before);
      expect(model.getSubmodule('transformer.h.0.attn.c_attn')).not.toBeInstanceOf(LoraLinear);
    });
  });

  it('modules_to_save wraps a trainable copy named as PEFT does, and the forward goes through it', () => {
    const model = gpt2Like(8, 1, 3);
    const x = randn([2, 8], 2);
    const before = model.forward(x);
    injectLora(model, { target_modules: ['c_attn'], modules_to_save: ['lm_head'] });
    expect(paramPaths(model).filter((p) => p.startsWith('lm_head'))).toEqual(['lm_head.original_module.weight', 'lm_head.modules_to_save.default.weight']);
    expect(model.getParameter('lm_head.original_module.weight').requiresGrad).toBe(false);
    expect(model.getParameter('lm_head.modules_to_save.default.weight').requiresGrad).toBe(true);
    expect(maxAbsDiff(model.forward(x), before)).toBe(0);
    const copy = model.getParameter('lm_head.modules_to_save.default.weight').variable;
    copy.assign(tf.add(copy, 1));
    expect(maxAbsDiff(model.forward(x), before)).toBeGreaterThan(0.1);
    expect(isLoraParameterPath('lm_head.modules_to_save.default.weight')).toBe(true);
    expect(isLoraParameterPath('lm_head.original_module.weight')).toBe(false);
  });

  it('merge-and-unload leaves plain layers with merged weights and the same outputs', () => {
    const model = gpt2Like(8, 2);
    const lora = injectLora(model, { target_modules: 'all-linear', r: 2, use_dora: true, modules_to_save: ['lm_head'] });
    for (const [p, param] of model.namedParameters()) {
      if (p.includes('lora_B') || p.includes('modules_to_save')) param.variable.assign(randn(param.shape, p.length));
    }
    const x = randn([3, 8], 3);
    const unmerged = model.forward(x);
    expect(lora.mergeAndUnload()).toBe(model);
    expect(maxAbsDiff(model.forward(x), unmerged)).toBeLessThan(1e-5);
    expect(paramPaths(model).some((p) => p.includes('lora_') || p.includes('base_layer') || p.includes('modules_to_save'))).toBe(false);
    expect(model.getSubmodule('lm_head')).toBeInstanceOf(Linear);
  });
});
