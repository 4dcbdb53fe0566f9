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
});
