import { applyStructureEdits, createToolkit, definePlugin, ConfigError } from '@leantune/core';
import { Linear, Module, ModuleList, tf } from '@leantune/tensor';

/** x → layer.0 → layer.1 → … (each a square Linear): the list is walked at every call. */
class Stack extends Module {
  constructor(layers: number) {
    super();
    this.addModule('encoder', new (class extends Module { forward() { return null; } })());
    this.getSubmodule('encoder')['addModule']('layer', new ModuleList(Array.from({ length: layers }, () => new Linear(3, 3))));
    this.addModule('head', new Linear(3, 2));
  }
  forward(x: tf.Tensor): tf.Tensor {
    let h = x;
    for (const layer of this.getSubmodule('encoder.layer') as ModuleList) h = layer.forward(h) as tf.Tensor;
    return this.getSubmodule('head').forward(h) as tf.Tensor;
  }
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('structure edits', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('truncates a layer list: fewer parameters, and the forward uses only the kept layers', () => {
    const m = new Stack(3);
    const x = tf.tensor2d([[1, -2, 0.5]]);
    const firstOnly = m.getSubmodule('head').forward(m.getSubmodule('encoder.layer.0').forward(x) as tf.Tensor) as tf.Tensor;
    expect(applyStructureEdits(m, { truncate: { 'encoder.layer': 1 } })).toEqual(['encoder.layer: 3 → 1 layers']);
    expect(m.countParameters().total).toBe(12 + 8);
    expect(values(m.forward(x))).toEqual(values(firstOnly));
    expect(() => m.getSubmodule('encoder.layer.1')).toThrow(/has no child "1"/);
  });

  it('grows a layer list with independent copies of the last layer', () => {
    const m = new Stack(2);
    applyStructureEdits(m, { grow: { 'encoder.layer': 2 } });
    expect((m.getSubmodule('encoder.layer') as ModuleList).length).toBe(4);
    const last = m.getParameter('encoder.layer.1.weight').variable;
    const copy = m.getParameter('encoder.layer.3.weight').variable;
    expect(values(copy)).toEqual(values(last));
    copy.assign(tf.zerosLike(copy));
    expect(values(last)).not.toEqual(values(copy));
    expect(m.countParameters().total).toBe(4 * 12 + 8);
  });

  it('checks every path before changing anything, and names the layer lists', () => {
    const m = new Stack(2);
    expect(() => applyStructureEdits(m, { truncate: { 'encoder.layer': 1 }, grow: { 'encoder.layr': 1 } })).toThrow(
      new ConfigError('/edit/grow: "encoder.layr" is not a module of this model. Did you mean "encoder.layer"? Layer lists: encoder.layer'),
    );
    expect((m.getSubmodule('encoder.layer') as ModuleList).length).toBe(2);
    expect(() => applyStructureEdits(m, { truncate: { head: 1 } })).toThrow('/edit/truncate: "head" is a Linear, not a layer list (ModuleList or Sequential)');
    expect(() => applyStructureEdits(m, { truncate: { 'encoder.layer': 5 } })).toThrow('/edit/truncate: "encoder.layer" has 2 layers; cannot keep 5. Use /edit/grow to add layers.');
  });

  it('runs from the config, after the model loads and before methods inject', async () => {
    const plugin = definePlugin({
      meta: { name: 'stack', version: '1.0.0', core: '^0.1.0' },
      apply: (ctx) => ctx.models.register({ name: 'stack', test: (s) => s.name === 'stack', load: async () => ({ name: 'stack', arch: 'stack', module: new Stack(3) }) }),
    });
    const infos: string[] = [];
    const tk = await createToolkit({ plugins: [plugin], log: { info: (m) => infos.push(m), warn: () => {} } });
    const model = await tk.createRun({ model: 'stack', edit: { truncate: { 'encoder.layer': 2 } }, trainable: ['head\\..*'], runtime: { backend: 'cpu' } }).loadModel();
    expect((model.module.getSubmodule('encoder.layer') as ModuleList).length).toBe(2);
    expect(infos).toContain('edit: encoder.layer: 3 → 2 layers');
    expect(model.module.countParameters()).toEqual({ total: 2 * 12 + 8, trainable: 8 });
  });
});
