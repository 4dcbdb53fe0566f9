import { setSeed, tf, type Module } from '@leantune/tensor';
import { addWeightedAdapter } from '../src/combine';
import { LoraLinear } from '../src/lora-linear';
import { injectLora } from '../src/model';
import { maxAbsDiff, mm, randn, toRows, values } from '@leantune/testing';
import { mlp } from './helpers';

function randomizeB(model: Module, adapter: string, seed: number): void {
  for (const [p, param] of model.namedParameters()) {
    if (p.includes(`lora_B.${adapter}.`)) param.variable.assign(randn(param.shape, seed++));
  }
}

function fc1(model: Module): LoraLinear {
  return model.getSubmodule('fc1') as LoraLinear;
}

describe('multiple adapters', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(9);
  });

  it('adds, switches, disables and deletes named adapters', async () => {
    const model = mlp();
    const x = randn([3, 6], 1);
    const base = model.forward(x);
    const lora = injectLora(model, { target_modules: ['fc1', 'fc2'], r: 2 });
    lora.addAdapter({ target_modules: ['fc1'], r: 3 }, { adapterName: 'other' });
    randomizeB(model, 'default', 10);
    randomizeB(model, 'other', 20);
    expect(lora.activeAdapters()).toEqual(['default']);
    // Only the active adapter trains.
    expect([...model.trainableVariables().keys()].every((p) => p.includes('.default.'))).toBe(true);
    const withDefault = model.forward(x);
    expect(maxAbsDiff(withDefault, base)).toBeGreaterThan(1e-3);

    lora.setAdapter('other');
    const withOther = model.forward(x);
    expect(maxAbsDiff(withOther, withDefault)).toBeGreaterThan(1e-3);
    expect([...model.trainableVariables().keys()]).toEqual(['fc1.lora_A.other.weight', 'fc1.lora_B.other.weight']);

    expect(maxAbsDiff(lora.withAdaptersDisabled(() => model.forward(x)), base)).toBe(0);
    const asyncOut = await lora.withAdaptersDisabled(async () => model.forward(x));
    expect(maxAbsDiff(asyncOut, base)).toBe(0);
    expect(maxAbsDiff(model.forward(x), withOther)).toBe(0); // restored afterwards

    // Two active adapters add up in the layer (fc1 holds both; the net is not linear).
    const layer = fc1(model);
    const layerBase = layer.baseLayer.forward(x);
    lora.setAdapter('default');
    const d1 = tf.sub(layer.forward(x), layerBase);
    lora.setAdapter('other');
    const d2 = tf.sub(layer.forward(x), layerBase);
    lora.setAdapter(['default', 'other']);
    expect(maxAbsDiff(tf.sub(layer.forward(x), layerBase), tf.add(d1, d2))).toBeLessThan(1e-5);

    lora.deleteAdapter('other');
    expect(lora.activeAdapters()).toEqual(['default']);
    expect([...model.namedParameters()].some(([p]) => p.includes('.other.'))).toBe(false);
    expect(maxAbsDiff(model.forward(x), withDefault)).toBeLessThan(1e-6);
    expect(() => lora.setAdapter('other')).toThrow(/no LoRA adapter named "other". Adapters: default/);
  });

  it('merge/unmerge of the active adapter keeps outputs; disabling a merged model unmerges it as PEFT does', () => {
    const model = mlp();
    const lora = injectLora(model, { target_modules: ['fc1', 'fc2'], r: 2 });
    randomizeB(model, 'default', 30);
    const x = randn([3, 6], 2);
    const out = model.forward(x);
    lora.merge();
    expect(fc1(model).merged).toBe(true);
    expect(maxAbsDiff(model.forward(x), out)).toBeLessThan(1e-5);
    const base = lora.withAdaptersDisabled(() => model.forward(x));
    expect(fc1(model).merged).toBe(false);
    expect(maxAbsDiff(base, out)).toBeGreaterThan(1e-3);
    lora.unmerge();
    expect(maxAbsDiff(model.forward(x), out)).toBeLessThan(1e-5);
  });

  it('combination "linear": A = Σ sign·√|w·s|·Aᵢ, B = Σ √|w·s|·Bᵢ, scaling 1, added inactive', () => {
    const model = mlp();
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2, lora_alpha: 4 });
    lora.addAdapter({ target_modules: ['fc1'], r: 2, lora_alpha: 2 }, { adapterName: 'b' });
    randomizeB(model, 'default', 40);
    randomizeB(model, 'b', 50);
    addWeightedAdapter(lora, { adapters: ['default', 'b'], weights: [0.5, -2], adapterName: 'mix', combinationType: 'linear' });
    const layer = fc1(model);
    expect(layer.settings.get('mix')).toMatchObject({ r: 2, alpha: 2, scaling: 1 });
    expect(lora.activeAdapters()).toEqual(['default']);
    const w = (name: string) => layer.getParameter(name).variable;
    // weights·scaling: 0.5·2 = 1 and −2·1 = −2
    const expectA = tf.add(tf.mul(w('lora_A.default.weight'), 1), tf.mul(w('lora_A.b.weight'), -Math.sqrt(2)));
    const expectB = tf.add(tf.mul(w('lora_B.default.weight'), 1), tf.mul(w('lora_B.b.weight'), Math.sqrt(2)));
    expect(maxAbsDiff(w('lora_A.mix.weight'), expectA)).toBeLessThan(1e-6);
    expect(maxAbsDiff(w('lora_B.mix.weight'), expectB)).toBeLessThan(1e-6);
  });

  it('combination "svd": the new B·A is the best rank-r approximation of Σ wᵢ·sᵢ·ΔWᵢ (PEFT\'s formula)', () => {
    const model = mlp(6, 8, 4);
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2, lora_alpha: 2 });
    lora.addAdapter({ target_modules: ['fc1'], r: 1, lora_alpha: 1 }, { adapterName: 'b' });
    randomizeB(model, 'default', 60);
    randomizeB(model, 'b', 70);
    const layer = fc1(model);
    // Scalings are 1 here, so ΔW_total = 0.7·B₁A₁ + 0.3·B₂A₂ has rank ≤ 3; with svdRank 3 the
    // combination is exact, with rank 2 it drops the smallest direction.
    addWeightedAdapter(lora, { adapters: ['default', 'b'], weights: [0.7, 0.3], adapterName: 'svd3', combinationType: 'svd', svdRank: 3 });
    const p = (name: string) => toRows(layer.getParameter(name).variable);
    const d1 = mm(p('lora_B.default.weight'), p('lora_A.default.weight'));
    const d2 = mm(p('lora_B.b.weight'), p('lora_A.b.weight'));
    const total = d1.map((row, i) => row.map((v, j) => 0.7 * v + 0.3 * d2[i][j]));
    const got = mm(p('lora_B.svd3.weight'), p('lora_A.svd3.weight'));
    expect(got.flat()).toEqual(total.flat().map((v) => expect.closeTo(v, 5)));
    expect(layer.settings.get('svd3')).toMatchObject({ r: 3, scaling: 1 });
    // A's rows are orthonormal (A = Vᵀ_r).
    const gram = toRows(tf.matMul(layer.getParameter('lora_A.svd3.weight').variable, layer.getParameter('lora_A.svd3.weight').variable, false, true));
    gram.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? 1 : 0, 5)));
  });

  it('rejects bad combinations clearly', () => {
    const model = mlp();
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2 });
    lora.addAdapter({ target_modules: ['fc1'], r: 3 }, { adapterName: 'b' });
    expect(() => addWeightedAdapter(lora, { adapters: ['default', 'b'], weights: [1, 1], adapterName: 'x', combinationType: 'linear' })).toThrow(
      /"linear" needs adapters of the same rank, got r = 2, 3; use "svd"/,
    );
    expect(() => addWeightedAdapter(lora, { adapters: ['default', 'nope'], weights: [1, 1], adapterName: 'x' })).toThrow(/no LoRA adapter named "nope"/);
    expect(() => addWeightedAdapter(lora, { adapters: ['default'], weights: [1, 2], adapterName: 'x' })).toThrow(/one weight per adapter/);
    expect(values(fc1(model).getParameter('lora_B.default.weight').variable).every((v) => v === 0)).toBe(true);
  });
});

describe('one handle per model', () => {
  it('refuses a second LoraModel on a model whose LoRA layers another handle owns, and keeps its config after unload', () => {
    const model = mlp();
    const lora = injectLora(model, { target_modules: ['fc1'], r: 2 });
    // A second handle would overwrite the first one's active adapters: adapters go through the owner.
    expect(() => injectLora(model, { target_modules: ['fc1'], r: 2 }, { adapterName: 'other' })).toThrow(/already has LoRA adapters, owned by another LoraModel handle/);
    lora.addAdapter({ target_modules: ['fc1'], r: 2 }, { adapterName: 'other' });
    expect(lora.adapterNames()).toEqual(['default', 'other']);
    const config = lora.config;
    lora.unload();
    expect(lora.config).toBe(config);
    // Unloaded, the model is plain again: a new handle may take it.
    expect(injectLora(model, { target_modules: ['fc1'], r: 2 }).adapterNames()).toEqual(['default']);
  });
});
