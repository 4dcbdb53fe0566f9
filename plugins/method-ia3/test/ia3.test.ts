import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { Conv1D, Conv2d, Linear, setSeed, tf, type Module } from '@leantune/tensor';
import { Ia3Layer, Ia3Model, ia3Layers, injectIa3, planIa3 } from '../src';
import { Node, gpt2Like, linear, maxAbsDiff, quietLog as quiet, randn, toRows as rows, snapshot, tempDir, textRecords } from '@leantune/testing';

function randomiseVectors(m: Module, seed: number): void {
  for (const [, l] of ia3Layers(m)) l.vector.assign(tf.add(1, tf.mul(0.5, randn(l.vector.shape, seed++))));
}

describe('IA3', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(4);
  });

  it('uses PEFT\'s BERT defaults, names and shapes, and is the identity at init', async () => {
    const dir = tempDir('ia3-bert');
    writeTinyHfCheckpoint('bert', dir, { layers: 1, seed: 7 });
    const m = await loadHfCheckpoint(dir, { log: quiet });
    const batch = m.encode!(textRecords());
    const before = m.predict!(batch);
    const ia3 = injectIa3(m.module, {}, { arch: 'bert' });
    expect(ia3).toBeInstanceOf(Ia3Model);
    expect(ia3.layers()).toEqual(ia3Layers(m.module));
    const vectors = [...m.module.namedParameters()].filter(([p]) => p.includes('ia3_l')).map(([p, v]) => [p, v.shape]);
    // "output.dense" also matches attention.output.dense as a suffix, exactly as in PEFT.
    expect(vectors).toEqual([
      ['bert.encoder.layer.0.attention.self.key.ia3_l.default', [8, 1]],
      ['bert.encoder.layer.0.attention.self.value.ia3_l.default', [8, 1]],
      ['bert.encoder.layer.0.attention.output.dense.ia3_l.default', [1, 8]],
      ['bert.encoder.layer.0.output.dense.ia3_l.default', [1, 16]],
    ]);
    expect(maxAbsDiff(m.predict!(batch), before)).toBe(0);
    m.module.freeze();
    m.module.unfreeze((p) => ia3.trains(p));
    expect(m.module.countParameters().trainable).toBe(8 + 8 + 8 + 16);
    randomiseVectors(m.module, 1);
    expect(maxAbsDiff(m.predict!(batch), before)).toBeGreaterThan(1e-4);
    expect(maxAbsDiff(ia3.withDisabled(() => m.predict!(batch)), before)).toBe(0);
  });

  describe('feed-forward modules follow PEFT\'s rules (IA3Model._prepare_adapter_config, _check_target_module_feedforward)', () => {
    const shapes = (m: Module) => ia3Layers(m).map(([p, l]) => [p, l.isFeedforward, l.vector.shape]);

    it('GPT-2 (Hub layout) with target_modules ["c_attn", "mlp.c_proj"] and no feedforward_modules: the table\'s mlp.c_proj gets input scaling', async () => {
      const dir = tempDir('ia3-gpt2');
      writeTinyHfCheckpoint('gpt2', dir, { layers: 1, seed: 7 });
      const m = await loadHfCheckpoint(dir, { log: quiet });
      const warnings: string[] = [];
      const ia3 = injectIa3(m.module, { target_modules: ['c_attn', 'mlp.c_proj'] }, { arch: 'gpt2', warn: (w) => warnings.push(w) });
      const prefix = ia3Layers(m.module)[0][0].replace(/h\.0\.attn\.c_attn$/, '');
      expect(shapes(m.module)).toEqual([
        [`${prefix}h.0.attn.c_attn`, false, [24, 1]],
        [`${prefix}h.0.mlp.c_proj`, true, [1, 32]],
      ]);
      // Saved as PEFT saves them: the names written and the filled-in feed-forward names.
      expect(ia3.config).toMatchObject({ target_modules: ['c_attn', 'mlp.c_proj'], feedforward_modules: ['mlp.c_proj'] });
      expect(warnings).toEqual([]);
    });

    it('BERT with target_modules ["key", "value", "output.dense"] and no feedforward_modules: both dense outputs get input scaling', async () => {
      const dir = tempDir('ia3-bert-ff');
      writeTinyHfCheckpoint('bert', dir, { layers: 1, seed: 7 });
      const m = await loadHfCheckpoint(dir, { log: quiet });
      injectIa3(m.module, { target_modules: ['key', 'value', 'output.dense'] }, { arch: 'bert' });
      expect(shapes(m.module)).toEqual([
        ['bert.encoder.layer.0.attention.self.key', false, [8, 1]],
        ['bert.encoder.layer.0.attention.self.value', false, [8, 1]],
        ['bert.encoder.layer.0.attention.output.dense', true, [1, 8]],
        ['bert.encoder.layer.0.output.dense', true, [1, 16]],
      ]);
    });

    it('a list entry matches as a plain suffix (key.endswith), a string as a full-match regex', () => {
      const model = gpt2Like(8, 1);
      // "fc" is no dotted suffix of "mlp.c_fc", but PEFT's endswith matches it.
      injectIa3(model, { target_modules: ['c_fc', 'fc'], feedforward_modules: ['fc'] });
      expect(shapes(model)).toEqual([['transformer.h.0.mlp.c_fc', true, [1, 8]]]);
      const other = gpt2Like(8, 1);
      injectIa3(other, { target_modules: ['c_fc', 'c_proj'], feedforward_modules: '.*mlp\\.c_(fc|proj)' });
      expect(shapes(other)).toEqual([
        ['transformer.h.0.attn.c_proj', false, [8, 1]],
        ['transformer.h.0.mlp.c_fc', true, [1, 8]],
        ['transformer.h.0.mlp.c_proj', true, [1, 16]],
      ]);
    });

    it('no table for the architecture: every target scaled on its output, with a warning (PEFT raises)', () => {
      const warnings: string[] = [];
      const model = gpt2Like(8, 1);
      const ia3 = injectIa3(model, { target_modules: ['c_fc'] }, { arch: 'tiny', warn: (w) => warnings.push(w) });
      expect(shapes(model)).toEqual([['transformer.h.0.mlp.c_fc', false, [16, 1]]]);
      expect(ia3.config.feedforward_modules).toEqual([]);
      expect(warnings).toEqual([expect.stringMatching(/feedforward_modules is not set and architecture "tiny" has no IA3 table.*PEFT would ask for feedforward_modules/)]);
    });
  });

  it('rescales outputs of non-feed-forward targets and inputs of feed-forward ones (plain-JS reference)', () => {
    const model = new Node({ k: new Linear(4, 3), down: new Linear(3, 2) }, (s, x) => s.call('down', s.call('k', x)));
    injectIa3(model, { target_modules: ['k', 'down'], feedforward_modules: ['down'] });
    randomiseVectors(model, 2);
    const p = (name: string) => model.getParameter(name).variable;
    const lk = Array.from(p('k.ia3_l.default').dataSync());
    const ld = Array.from(p('down.ia3_l.default').dataSync());
    const x = randn([2, 4], 3);
    const k = linear(rows(x), rows(p('k.base_layer.weight')), Array.from(p('k.base_layer.bias').dataSync())).map((r) => r.map((v, j) => v * lk[j]));
    const expected = linear(k.map((r) => r.map((v, j) => v * ld[j])), rows(p('down.base_layer.weight')), Array.from(p('down.base_layer.bias').dataSync()));
    rows(model.forward(x)).forEach((r, i) => r.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 5)));
  });

  it('merged = unmerged for Linear and GPT-2 Conv1D, output and input scaling; unmerge restores', () => {
    const model = gpt2Like(8, 2);
    const onModel = injectIa3(model, {}, { arch: 'gpt2' });
    expect(ia3Layers(model).map(([p, l]) => [p, l.isFeedforward, l.fanInFanOut])).toEqual([
      ['transformer.h.0.mlp.c_proj', true, true],
      ['transformer.h.1.mlp.c_proj', true, true],
    ]);
    const mixed = new Node({ q: new Linear(4, 4), fc: new Conv1D(4, 4), out: new Linear(4, 2) }, (s, x) => s.call('out', s.call('fc', s.call('q', x))));
    const onMixed = injectIa3(mixed, { target_modules: ['q', 'fc', 'out'], feedforward_modules: ['out'] });
    for (const [m, ia3] of [[model, onModel], [mixed, onMixed]] as const) {
      randomiseVectors(m, 5);
      const x = randn([3, m === model ? 8 : 4], 6);
      const unmerged = m.forward(x);
      const weights = snapshot(m);
      ia3.merge();
      expect(ia3.layers().every(([, l]) => l.merged)).toBe(true);
      expect(maxAbsDiff(m.forward(x), unmerged)).toBeLessThan(1e-5);
      ia3.unmerge();
      snapshot(m).forEach(([, v], i) => v.forEach((a, j) => expect(a).toBeCloseTo(weights[i][1][j], 4)));
      expect(ia3.mergeAndUnload()).toBe(m);
      expect(ia3Layers(m)).toEqual([]);
      expect(ia3.layers()).toEqual([]);
      expect(maxAbsDiff(m.forward(x), unmerged)).toBeLessThan(1e-5);
    }
    expect(mixed.getSubmodule('fc')).toBeInstanceOf(Conv1D);
  });

  describe('bad input leaves the model untouched', () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['a target that matches nothing', { target_modules: ['c_prj'] }, /IA3 target_modules \["c_prj"\] matched no module.*Close module names: "c_proj"/s],
      ['feedforward not within targets', { target_modules: ['c_fc'], feedforward_modules: ['c_proj'] }, /feedforward_modules should be a subset of target_modules; \["c_proj"\] is not in target_modules \["c_fc"\]/],
      ['a non-linear target', { target_modules: ['mlp'] }, /IA3 target "transformer\.h\.0\.mlp" is a Node; only Linear, Conv1D and Conv2d/],
      ['modules_to_save', { target_modules: ['c_fc'], modules_to_save: ['lm_head'] }, /modules_to_save is not supported/],
    ];
    it.each(cases)('%s', (_name, cfg, message) => {
      const model = gpt2Like();
      const before = snapshot(model);
      expect(() => injectIa3(model, cfg)).toThrow(message);
      expect(snapshot(model)).toEqual(before);
      expect(ia3Layers(model)).toEqual([]);
    });
    it('an unknown architecture without targets', () => {
      expect(() => planIa3(gpt2Like(), {}, { arch: 'mystery' })).toThrow(/architecture "mystery" has no default targets/);
    });
  });

  it('init_ia3_weights false draws random vectors', () => {
    const model = gpt2Like(8, 1);
    injectIa3(model, { target_modules: ['c_fc'], init_ia3_weights: false });
    const v = Array.from((model.getSubmodule('transformer.h.0.mlp.c_fc') as Ia3Layer).vector.dataSync());
    expect(v.some((a) => Math.abs(a - 1) > 1e-3)).toBe(true);
  });

  it('keeps its state on the handle: one config object on two models gives two independent Ia3Models', () => {
    const config = { target_modules: ['c_fc'] };
    const a = gpt2Like(8, 1);
    const b = gpt2Like(8, 1);
    const onA = injectIa3(a, config);
    const onB = injectIa3(b, config);
    expect(config).toEqual({ target_modules: ['c_fc'] });
    expect(onA.config).toEqual(onB.config);
    expect(onA.config).not.toBe(onB.config);
    expect(onA.layers().map(([p]) => p)).toEqual(['transformer.h.0.mlp.c_fc']);
    randomiseVectors(a, 30);
    randomiseVectors(b, 40);
    const x = randn([2, 8], 7);
    const outA = a.forward(x);
    const outB = b.forward(x);
    // Disabling or merging one handle leaves the other model alone.
    onA.withDisabled(() => expect(maxAbsDiff(b.forward(x), outB)).toBe(0));
    onA.disable();
    expect(onB.layers().every(([, l]) => !l.disabled)).toBe(true);
    expect(maxAbsDiff(b.forward(x), outB)).toBe(0);
    onA.enable();
    expect(maxAbsDiff(a.forward(x), outA)).toBe(0);
    onA.mergeAndUnload();
    expect(onA.layers()).toEqual([]);
    expect(onB.layers().map(([p]) => p)).toEqual(['transformer.h.0.mlp.c_fc']);
    expect(maxAbsDiff(b.forward(x), outB)).toBe(0);
    // The unloaded model takes IA3 again; the one still holding vectors refuses a second set.
    expect(injectIa3(a, config).layers()).toHaveLength(1);
    expect(() => injectIa3(b, config)).toThrow(/already has IA3 vectors/);
  });
  it('Conv2d (PEFT\'s ia3.Conv2d): output scaling [1, out, 1, 1] on a 3×3 conv, input scaling [1, in, 1, 1] on a 1×1 conv; merge = unmerged; a grouped conv as feed-forward is refused', () => {
    const make = () => new Node({ a: new Conv2d(3, 6, 3, { padding: 'same' }), b: new Conv2d(6, 4, 1), dw: new Conv2d(4, 4, 3, { groups: 4, padding: 'same' }) }, (n, x) => n.call('dw', n.call('b', n.call('a', x))));
    const model = make();
    const x = randn([2, 5, 5, 3], 31);
    const before = model.forward(x) as tf.Tensor;
    const ia3 = injectIa3(model, { target_modules: ['a', 'b', 'dw'], feedforward_modules: ['b'] });
    expect(ia3.layers().map(([p, l]) => [p, l.vector.shape])).toEqual([['a', [1, 6, 1, 1]], ['b', [1, 6, 1, 1]], ['dw', [1, 4, 1, 1]]]);
    expect(maxAbsDiff(model.forward(x) as tf.Tensor, before)).toBe(0);
    randomiseVectors(model, 40);
    const scaled = model.forward(x) as tf.Tensor;
    // By hand: a's output channels, then b's input channels (the same 6), then dw's output channels.
    const l = (p: string) => tf.reshape(ia3.layers().find(([q]) => q === p)![1].vector, [-1]);
    const base = (p: string) => (model.getSubmodule(p) as Ia3Layer).baseLayer;
    const byHand = base('dw').forward(base('b').forward(tf.mul(tf.mul(base('a').forward(x) as tf.Tensor, l('a')), l('b')))) as tf.Tensor;
    expect(maxAbsDiff(scaled, tf.mul(byHand, l('dw')))).toBeLessThan(1e-5);
    expect(maxAbsDiff(scaled, before)).toBeGreaterThan(1e-3);
    ia3.merge!();
    expect(maxAbsDiff(model.forward(x) as tf.Tensor, scaled)).toBeLessThan(1e-5);
    const grouped = make();
    const snap = snapshot(grouped);
    expect(() => injectIa3(grouped, { target_modules: ['dw'], feedforward_modules: ['dw'] })).toThrow(/IA3 target "dw" is a grouped Conv2d \(groups=4\) listed in feedforward_modules/);
    expect(snapshot(grouped)).toEqual(snap);
  });
});
