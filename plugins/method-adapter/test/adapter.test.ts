import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { Linear, setSeed, tf, type Module } from '@leantune/tensor';
import { notMergeableReason, type MethodHandle, type RegisteredMethod } from '@leantune/core';
import { AdapterLayer, AdapterModel, NOT_MERGEABLE, adapterLayers, injectAdapter, planAdapter } from '../src';
import plugin from '../src';
import { Node, gpt2Like, linear, maxAbsDiff, quietLog as quiet, randn, toRows as rows, snapshot, tempDir, textRecords } from '@leantune/testing';

async function tinyBert(layers = 2) {
  const dir = tempDir('adapter-bert');
  writeTinyHfCheckpoint('bert', dir, { layers, seed: 11 });
  return loadHfCheckpoint(dir, { log: quiet });
}

function wrappedPaths(m: Module): string[] {
  return [...m.namedModules()].filter(([, c]) => c instanceof AdapterLayer).map(([p]) => p);
}

function setRandom(m: Module, seed: number): void {
  for (const [p, param] of m.namedParameters()) if (p.includes('adapter_')) param.variable.assign(randn(param.shape, seed + p.length));
}

describe('bottleneck adapters', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(3);
  });

  it('places Houlsby after attention output and FFN, Pfeiffer after the FFN only (BERT names)', async () => {
    const houlsby = await tinyBert();
    injectAdapter(houlsby.module, { config: 'houlsby' }, { arch: 'bert' });
    expect(wrappedPaths(houlsby.module)).toEqual([
      'bert.encoder.layer.0.attention.output.dense',
      'bert.encoder.layer.0.output.dense',
      'bert.encoder.layer.1.attention.output.dense',
      'bert.encoder.layer.1.output.dense',
    ]);
    const pfeiffer = await tinyBert();
    injectAdapter(pfeiffer.module, { config: 'pfeiffer' }, { arch: 'bert' });
    expect(wrappedPaths(pfeiffer.module)).toEqual(['bert.encoder.layer.0.output.dense', 'bert.encoder.layer.1.output.dense']);
    expect([...pfeiffer.module.namedParameters()].map(([p]) => p).filter((p) => p.startsWith('bert.encoder.layer.0.output.dense.'))).toEqual([
      'bert.encoder.layer.0.output.dense.base_layer.weight',
      'bert.encoder.layer.0.output.dense.base_layer.bias',
      'bert.encoder.layer.0.output.dense.adapter_down.weight',
      'bert.encoder.layer.0.output.dense.adapter_down.bias',
      'bert.encoder.layer.0.output.dense.adapter_up.weight',
      'bert.encoder.layer.0.output.dense.adapter_up.bias',
    ]);
  });

  it('keeps a BERT classifier\'s output at init (zero up-projection) and counts the adapter parameters', async () => {
    const m = await tinyBert();
    const batch = m.encode!(textRecords());
    const before = m.predict!(batch);
    const adapters = injectAdapter(m.module, { config: 'houlsby', reduction_factor: 4 }, { arch: 'bert' });
    expect(adapters).toBeInstanceOf(AdapterModel);
    expect(adapters.layers()).toEqual(adapterLayers(m.module));
    expect(maxAbsDiff(m.predict!(batch), before)).toBe(0);
    // hidden 8, bottleneck 8/4 = 2: down 2×8+2, up 8×2+8 = 42 per adapter; 4 adapters.
    m.module.freeze();
    m.module.unfreeze((p) => adapters.trains(p));
    expect(m.module.countParameters().trainable).toBe(4 * 42);
    // Non-zero weights change the output, and disabling the adapters restores it.
    setRandom(m.module, 1);
    expect(maxAbsDiff(m.predict!(batch), before)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(adapters.withDisabled(() => m.predict!(batch)), before)).toBe(0);
  });

  it('computes the sequential adapter as y + s·up(act(down(y))) (plain-JS reference)', () => {
    const model = new Node({ dense: new Linear(6, 4) }, (s, x) => s.call('dense', x));
    injectAdapter(model, { target_modules: ['dense'], reduction_factor: 2, non_linearity: 'relu', scaling: 0.5 });
    setRandom(model, 2);
    const x = randn([3, 6], 4);
    const p = (name: string) => model.getParameter(`dense.${name}`).variable;
    const y = linear(rows(x), rows(p('base_layer.weight')), Array.from(p('base_layer.bias').dataSync()));
    const h = linear(y, rows(p('adapter_down.weight')), Array.from(p('adapter_down.bias').dataSync())).map((r) => r.map((v) => Math.max(v, 0)));
    const up = linear(h, rows(p('adapter_up.weight')), Array.from(p('adapter_up.bias').dataSync()));
    const expected = y.map((r, i) => r.map((v, j) => v + 0.5 * up[i][j]));
    const got = rows(model.forward(x));
    got.forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 5)));
  });

  it('runs a parallel adapter beside GPT-2\'s whole mlp: mlp(x) + 4·up(relu(down(x)))', () => {
    const model = gpt2Like(8, 1);
    injectAdapter(model, { config: 'parallel' }, { arch: 'gpt2' });
    expect(wrappedPaths(model)).toEqual(['transformer.h.0.mlp']);
    const layer = model.getSubmodule('transformer.h.0.mlp') as AdapterLayer;
    expect(layer.bottleneck).toBe(4); // reduction_factor 2 of 8
    setRandom(model, 3);
    const x = randn([2, 8], 5);
    const base = layer.baseLayer.forward(x) as tf.Tensor;
    const p = (name: string) => model.getParameter(`transformer.h.0.mlp.${name}`).variable;
    const h = linear(rows(x), rows(p('adapter_down.weight')), Array.from(p('adapter_down.bias').dataSync())).map((r) => r.map((v) => Math.max(v, 0)));
    const up = linear(h, rows(p('adapter_up.weight')), Array.from(p('adapter_up.bias').dataSync()));
    const expected = rows(base).map((r, i) => r.map((v, j) => v + 4 * up[i][j]));
    rows(layer.forward(x)).forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 4)));
  });

  it('honours ln_after and residual_before_ln: out = LN(up + y)', () => {
    const model = new Node({ dense: new Linear(4, 4) }, (s, x) => s.call('dense', x));
    injectAdapter(model, { target_modules: ['dense'], reduction_factor: 2, ln_after: true });
    expect(model.getParameter('dense.adapter_norm_after.weight').shape).toEqual([4]);
    const x = randn([2, 4], 6);
    const y = rows((model.getSubmodule('dense') as AdapterLayer).baseLayer.forward(x) as tf.Tensor);
    // zero up-projection: out = LayerNorm(y) with unit gain, zero shift
    const ln = y.map((r) => {
      const mean = r.reduce((a, b) => a + b, 0) / r.length;
      const variance = r.reduce((a, b) => a + (b - mean) ** 2, 0) / r.length;
      return r.map((v) => (v - mean) / Math.sqrt(variance + 1e-5));
    });
    rows(model.forward(x)).forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(ln[i][j], 4)));
  });

  describe('bad input leaves the model untouched', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a target that matches nothing (close names listed)', { target_modules: ['c_prj'] }, /Adapter target_modules \["c_prj"\] matched no module.*Close module names: "c_proj"/s],
      ['a bad non_linearity', { target_modules: ['c_proj'], non_linearity: 'softsign' }, /non_linearity "softsign" is not one of relu, gelu/],
      ['a bad regex', { target_modules: '(c_proj' }, /target_modules "\(c_proj" is not a valid regular expression/],
    ];
    it.each(cases)('%s', (_name, cfg, message) => {
      const model = gpt2Like();
      const before = snapshot(model);
      expect(() => injectAdapter(model, cfg)).toThrow(message);
      expect(snapshot(model)).toEqual(before);
      expect(wrappedPaths(model)).toEqual([]);
    });

    it('a target with no Linear-like layer is named', () => {
      const model = new Node({ act: new Node({}, (_s, x) => x), dense: new Linear(4, 4) }, (s, x) => s.call('dense', s.call('act', x)));
      expect(() => injectAdapter(model, { target_modules: ['act', 'dense'] })).toThrow(/Adapter target "act" is a Node with no Linear-like layer/);
      expect(wrappedPaths(model)).toEqual([]);
    });

    it('no default placement for an unknown architecture', () => {
      expect(() => planAdapter(gpt2Like(), {}, { arch: 'mystery' })).toThrow(/architecture "mystery" has no default placement/);
    });
  });

  it('unload puts the original modules back; merge explains why it cannot', () => {
    const model = gpt2Like();
    const x = randn([2, 8], 7);
    const before = model.forward(x);
    const adapters = injectAdapter(model, { config: 'houlsby' }, { arch: 'gpt2' });
    setRandom(model, 5);
    expect(maxAbsDiff(model.forward(x), before)).toBeGreaterThan(1e-4);
    // The handle has no merge functions; it says why, and that is what `leantune merge` reports.
    const handle: MethodHandle = adapters;
    expect([handle.merge, handle.unmerge, handle.mergeAndUnload]).toEqual([undefined, undefined, undefined]);
    expect(NOT_MERGEABLE).toMatch(/non-linearity/);
    expect(adapters.notMergeable).toBe(NOT_MERGEABLE);
    let registered: RegisteredMethod | undefined;
    plugin.apply({ methods: { register: (d: RegisteredMethod) => (registered = d) } } as never);
    expect(notMergeableReason(registered!, adapters)).toMatch(/cannot be merged into the base weights: the adapter applies a non-linearity/);
    expect(adapters.unload()).toBe(model);
    expect(wrappedPaths(model)).toEqual([]);
    expect(adapters.layers()).toEqual([]);
    expect(maxAbsDiff(model.forward(x), before)).toBe(0);
  });

  it('keeps its state on the handle: one config object on two models gives two independent AdapterModels', () => {
    const config = { target_modules: ['c_proj'], reduction_factor: 2 };
    const a = gpt2Like(8, 1);
    const b = gpt2Like(8, 1);
    const onA = injectAdapter(a, config);
    const onB = injectAdapter(b, config);
    expect(config).toEqual({ target_modules: ['c_proj'], reduction_factor: 2 });
    expect(onA.config).toEqual(onB.config);
    setRandom(a, 8);
    setRandom(b, 9);
    const x = randn([2, 8], 10);
    const outB = b.forward(x);
    onA.disable();
    expect(onB.layers().every(([, l]) => !l.disabled)).toBe(true);
    expect(maxAbsDiff(b.forward(x), outB)).toBe(0);
    onA.enable();
    onA.unload();
    expect(wrappedPaths(a)).toEqual([]);
    expect(wrappedPaths(b)).toEqual(['transformer.h.0.attn.c_proj', 'transformer.h.0.mlp.c_proj']);
    expect(maxAbsDiff(b.forward(x), outB)).toBe(0);
    // The unloaded model takes adapters again; the one still holding them refuses a second set.
    expect(injectAdapter(a, config).layers()).toHaveLength(2);
    expect(() => injectAdapter(b, config)).toThrow(/already has bottleneck adapters/);
  });
});
