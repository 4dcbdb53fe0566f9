import { Module, tf } from '@leantune/tensor';

class Leaf extends Module {
  constructor(n: number) {
    super();
    this.addParameter('weight', tf.ones([n, n]));
    this.addParameter('bias', tf.zeros([n]));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.matMul(x, this.param('weight')), this.param('bias'));
  }
}

class Tree extends Module {
  constructor() {
    super();
    const h = this.addModule('h', new (class extends Module { forward() { return null; } })());
    (h as any).addModule('0', new Leaf(2));
    (h as any).addModule('1', new Leaf(3));
  }
  forward(): null {
    return null;
  }
}

/** Holds its child in a field too, as layers do (`this.dense = this.addModule(...)`). */
class Holder extends Module {
  readonly inner: Leaf;
  readonly label = 'holder';
  constructor() {
    super();
    this.inner = this.addModule('inner', new Leaf(2));
    this.addParameter('scale', tf.tensor1d([2, 3]), false);
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(this.inner.forward(x), this.param('scale'));
  }
}

describe('Module', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('names parameters with Hugging Face style dotted paths', () => {
    const t = new Tree();
    expect([...t.namedParameters()].map(([k]) => k)).toEqual(['h.0.weight', 'h.0.bias', 'h.1.weight', 'h.1.bias']);
    expect([...t.namedModules()].map(([k]) => k)).toEqual(['', 'h', 'h.0', 'h.1']);
    expect(t.countParameters()).toEqual({ total: 4 + 2 + 9 + 3, trainable: 18 });
  });

  it('freezes by list, regex and predicate', () => {
    const t = new Tree();
    t.freeze();
    expect(t.countParameters().trainable).toBe(0);
    expect(t.unfreeze(/h\.\d+\.bias/)).toBe(2);
    expect(t.countParameters().trainable).toBe(5);
    t.unfreeze(['h.1.weight']);
    expect([...t.trainableVariables().keys()]).toEqual(['h.0.bias', 'h.1.weight', 'h.1.bias']);
    t.freeze((path) => path.startsWith('h.1'));
    expect([...t.trainableVariables().keys()]).toEqual(['h.0.bias']);
  });

  it('replaces a submodule in place and reports a missing path with the children it has', () => {
    const t = new Tree();
    t.setSubmodule('h.1', new Leaf(4));
    expect(t.getParameter('h.1.weight').shape).toEqual([4, 4]);
    expect(() => t.getSubmodule('h.7')).toThrow('No submodule "h.7": h has no child "7" (children: 0, 1)');
  });

  it('loads a state dict, rejecting a wrong shape before assigning anything', () => {
    const t = new Tree();
    const good = { 'h.0.bias': tf.tensor1d([5, 6]) };
    expect(t.loadStateDict(good).missingKeys).toContain('h.1.weight');
    expect(Array.from(t.getParameter('h.0.bias').variable.dataSync())).toEqual([5, 6]);
    const bad = { 'h.0.bias': tf.tensor1d([1, 1]), 'h.1.bias': tf.zeros([2]) };
    expect(() => t.loadStateDict(bad, { source: 'ckpt.safetensors' })).toThrow(
      'Shape mismatch for "h.1.bias" from ckpt.safetensors: module expects [3], got [2]',
    );
    expect(Array.from(t.getParameter('h.0.bias').variable.dataSync())).toEqual([5, 6]);
    expect(() => t.loadStateDict(good, { strict: true })).toThrow(/missing keys: h\.0\.weight/);
  });

  it('removes a child, returning it with its parameters alive', () => {
    const t = new Tree();
    const h = t.getSubmodule('h');
    const removed = h.removeModule('0');
    expect(removed).toBeInstanceOf(Leaf);
    expect([...t.namedParameters()].map(([k]) => k)).toEqual(['h.1.weight', 'h.1.bias']);
    expect(() => t.getSubmodule('h.0')).toThrow('No submodule "h.0": h has no child "0" (children: 1)');
    expect(Array.from(removed!.getParameter('bias').variable.dataSync())).toEqual([0, 0]);
    expect(h.removeModule('0')).toBeUndefined();
    removed!.dispose();
    t.dispose();
  });

  it('clones a subtree: same classes, values and requiresGrad, fresh variables, fields pointing at the copies', () => {
    const original = new Holder();
    original.loadStateDict({ 'inner.weight': tf.tensor2d([[1, 2], [3, 4]]) });
    original.inner.freeze(['bias']);
    const before = tf.memory().numTensors;
    const copy = original.clone();
    // One new tensor per parameter (inner.weight, inner.bias, scale) and nothing else.
    expect(tf.memory().numTensors - before).toBe(3);
    expect(copy).toBeInstanceOf(Holder);
    expect(copy.label).toBe('holder');
    expect(copy.inner).toBe(copy.child('inner'));
    expect(copy.inner).not.toBe(original.inner);
    const params = (m: Module) => [...m.namedParameters()].map(([k, p]) => [k, p.requiresGrad, Array.from(p.variable.dataSync())]);
    expect(params(copy)).toEqual([
      ['scale', false, [2, 3]],
      ['inner.weight', true, [1, 2, 3, 4]],
      ['inner.bias', false, [0, 0]],
    ]);
    for (const [k, p] of copy.namedParameters()) expect(p.variable).not.toBe(original.getParameter(k).variable);
    // [1, 1]·[[1,2],[3,4]] = [4, 6], times scale [2, 3] = [8, 18]
    const out = copy.forward(tf.tensor2d([[1, 1]]));
    expect(Array.from(out.dataSync())).toEqual([8, 18]);
    copy.loadStateDict({ scale: tf.tensor1d([0, 0]) });
    expect(Array.from(original.getParameter('scale').variable.dataSync())).toEqual([2, 3]);
    copy.dispose();
    expect(Array.from(original.getParameter('inner.weight').variable.dataSync())).toEqual([1, 2, 3, 4]);
    tf.dispose(out);
    original.dispose();
  });
});
