import { selectionHandle, tunerLifecycle, type TunerLayer } from '@leantune/peft';
import { Linear, Module, tf } from '@leantune/tensor';

/** y = base(x) + offset: folds into the base bias, so merge and unmerge can be checked by hand. */
class OffsetLayer extends Module implements TunerLayer {
  disabled = false;
  merged = false;

  constructor(base: Linear, offset: number) {
    super();
    this.addModule('base_layer', base);
    tf.tidy(() => void this.addParameter('offset_o', tf.fill([base.outFeatures], offset)));
  }

  get base(): Linear {
    return this.child<Linear>('base_layer')!;
  }

  merge(): void {
    if (this.merged) return;
    this.base.bias!.assign(tf.tidy(() => tf.add(this.base.bias!, this.param('offset_o'))));
    this.merged = true;
  }

  unmerge(): void {
    if (!this.merged) return;
    this.base.bias!.assign(tf.tidy(() => tf.sub(this.base.bias!, this.param('offset_o'))));
    this.merged = false;
  }

  releaseBase(): Module {
    const base = this.base;
    this.param('offset_o').dispose();
    return base;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = this.base.forward(x) as tf.Tensor;
      return this.disabled || this.merged ? y : tf.add(y, this.param('offset_o'));
    });
  }
}

const isOffset = (m: Module): m is OffsetLayer => m instanceof OffsetLayer;

/** a → b, two Linear layers by name. */
class Pair extends Module {
  constructor() {
    super();
    this.addModule('a', new Linear(2, 2));
    this.addModule('b', new Linear(2, 2));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.child<Module>('b')!.forward(this.child<Module>('a')!.forward(x)) as tf.Tensor);
  }
}

function injected(offset = 0.5): { model: Pair; x: tf.Tensor; base: number[] } {
  const model = new Pair();
  const x = tf.tensor2d([[1, 2], [3, -1]]);
  const base = Array.from(model.forward(x).dataSync());
  for (const name of ['a', 'b']) model.setSubmodule(name, new OffsetLayer(model.getSubmodule(name) as Linear, offset));
  return { model, x, base };
}

const out = (model: Module, x: tf.Tensor) => Array.from((model.forward(x) as tf.Tensor).dataSync());
const close = (got: number[], want: number[]) => got.forEach((v, i) => expect(v).toBeCloseTo(want[i], 5));

describe('tunerLifecycle', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('lists the layers, merges and unmerges them in place, and merge-and-unload leaves plain layers with the same outputs', () => {
    const { model, x, base } = injected();
    const unloaded: boolean[] = [];
    const life = tunerLifecycle(model, isOffset, { afterUnload: (merged) => void unloaded.push(merged) });
    expect(life.layers().map(([p]) => p)).toEqual(['a', 'b']);
    const withOffsets = out(model, x);
    expect(Math.max(...withOffsets.map((v, i) => Math.abs(v - base[i])))).toBeGreaterThan(0.1);
    life.merge!();
    expect(life.layers().every(([, l]) => l.merged)).toBe(true);
    close(out(model, x), withOffsets);
    life.unmerge!();
    expect(life.layers().every(([, l]) => !l.merged)).toBe(true);
    close(out(model, x), withOffsets);
    expect(life.mergeAndUnload!()).toBe(model);
    expect([model.getSubmodule('a'), model.getSubmodule('b')].every((m) => m instanceof Linear)).toBe(true);
    expect(life.layers()).toEqual([]);
    expect([...model.namedParameters()].some(([p]) => p.includes('offset_'))).toBe(false);
    close(out(model, x), withOffsets);
    expect(unloaded).toEqual([true]);
  });

  it('unload puts the base layers back unmerged, even after a merge', () => {
    const { model, x, base } = injected();
    const unloaded: boolean[] = [];
    const life = tunerLifecycle(model, isOffset, { afterUnload: (merged) => void unloaded.push(merged) });
    life.merge!();
    expect(life.unload()).toBe(model);
    expect(model.getSubmodule('a')).toBeInstanceOf(Linear);
    close(out(model, x), base);
    expect(unloaded).toEqual([false]);
  });

  it('disable/enable and withDisabled bypass every layer and restore each one\'s own state, also after a throw or a promise', async () => {
    const { model, x, base } = injected();
    const life = tunerLifecycle(model, isOffset);
    const withOffsets = out(model, x);
    life.disable();
    close(out(model, x), base);
    life.enable();
    close(out(model, x), withOffsets);
    // One layer disabled beforehand stays so afterwards.
    const [[, a], [, b]] = life.layers();
    a.disabled = true;
    close(life.withDisabled(() => out(model, x)), base);
    expect([a.disabled, b.disabled]).toEqual([true, false]);
    expect(() => life.withDisabled(() => { throw new Error('inside'); })).toThrow('inside');
    expect([a.disabled, b.disabled]).toEqual([true, false]);
    const asyncOut = await life.withDisabled(async () => {
      expect(b.disabled).toBe(true);
      return out(model, x);
    });
    close(asyncOut, base);
    expect([a.disabled, b.disabled]).toEqual([true, false]);
  });

  it('mergeable: false gives no merge functions, only unload, disable and enable', () => {
    const { model } = injected();
    const life = tunerLifecycle(model, isOffset, { mergeable: false });
    expect([life.merge, life.unmerge, life.mergeAndUnload]).toEqual([undefined, undefined, undefined]);
    expect(typeof life.unload).toBe('function');
    expect(typeof life.withDisabled).toBe('function');
  });

  it('two lifecycles on two models act on their own model only', () => {
    const one = injected(0.5);
    const two = injected(0.25);
    const lifeOne = tunerLifecycle(one.model, isOffset);
    const lifeTwo = tunerLifecycle(two.model, isOffset);
    const before = out(two.model, two.x);
    lifeOne.disable();
    lifeOne.mergeAndUnload!();
    expect(lifeOne.layers()).toEqual([]);
    expect(lifeTwo.layers().map(([p, l]) => [p, l.disabled, l.merged])).toEqual([
      ['a', false, false],
      ['b', false, false],
    ]);
    close(out(two.model, two.x), before);
  });
});

describe('selectionHandle', () => {
  it('trains the selected parameters by identity, whatever their path, and saves only when given a save', () => {
    const model = new Pair();
    const other = new Pair();
    const selected = [model.getParameter('b.weight'), model.getParameter('b.bias')];
    const config = { head: 'b' };
    const saved: string[] = [];
    const handle = selectionHandle(config, selected, (dir) => void saved.push(dir));
    expect(handle.config).toBe(config);
    expect([...model.namedParameters()].filter(([p, param]) => handle.trains(p, param)).map(([p]) => p)).toEqual(['b.weight', 'b.bias']);
    // The same path on another model is not selected; a selected parameter under a new path still is.
    expect(handle.trains('b.weight', other.getParameter('b.weight'))).toBe(false);
    expect(handle.trains('b.base_layer.weight', model.getParameter('b.weight'))).toBe(true);
    handle.save!('/some/dir');
    expect(saved).toEqual(['/some/dir']);
    expect('save' in selectionHandle(config, selected)).toBe(false);
    // Two handles over one model keep their own selections.
    const first = selectionHandle({}, [model.getParameter('a.weight')]);
    expect([first.trains('a.weight', model.getParameter('a.weight')), handle.trains('a.weight', model.getParameter('a.weight'))]).toEqual([true, false]);
  });
});
