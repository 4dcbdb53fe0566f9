import { BlockStack, Dropout, LayerNorm, Linear, Module, geluTanh, setGradientCheckpointing, setSeed, Sequential, tf, variableGradients } from '@leantune/tensor';

/** A pre-norm MLP block with dropout, so recomputation must redraw the same masks. */
class Block extends Module {
  constructor(width: number) {
    super();
    this.addModule('ln', new LayerNorm(width));
    this.addModule('up', new Linear(width, 4 * width));
    this.addModule('down', new Linear(4 * width, width));
    this.addModule('drop', new Dropout(0.2));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const m = (n: string) => this.getSubmodule(n);
    const h = m('down').forward(geluTanh(m('up').forward(m('ln').forward(x)) as tf.Tensor)) as tf.Tensor;
    return tf.add(x, m('drop').forward(h) as tf.Tensor);
  }
}

class Stack extends Module {
  constructor(depth: number, width: number) {
    super();
    this.addModule('layers', new BlockStack(Array.from({ length: depth }, () => new Block(width))));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.child<BlockStack>('layers')!.chain(x, (block, h) => block.forward(h) as tf.Tensor);
  }
}

function gradsOf(model: Stack, x: tf.Tensor, checkpointing: boolean) {
  setGradientCheckpointing(model, checkpointing);
  setSeed(9);
  const vars = [...model.trainableVariables().values()];
  return variableGradients(() => tf.mean(tf.square(model.forward(x))) as tf.Scalar, vars);
}

describe('activation checkpointing (BlockStack)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives the same loss and gradients, dropout included, for trainable and frozen weights alike', () => {
    setSeed(1);
    const model = new Stack(3, 8);
    // Freeze the first block's up-projection: its gradient must stay absent either way.
    model.freeze((path) => path === 'layers.0.up.weight');
    const x = tf.randomNormal([5, 8], 0, 1, 'float32', 2);
    const plain = gradsOf(model, x, false);
    const checkpointed = gradsOf(model, x, true);
    expect(checkpointed.value.dataSync()[0]).toBeCloseTo(plain.value.dataSync()[0], 6);
    expect(Object.keys(checkpointed.grads).sort()).toEqual(Object.keys(plain.grads).sort());
    for (const [name, g] of Object.entries(plain.grads)) {
      const ours = checkpointed.grads[name].dataSync();
      g.dataSync().forEach((v, i) => expect(ours[i]).toBeCloseTo(v, 5));
    }
    tf.dispose([x, plain.value, checkpointed.value, ...Object.values(plain.grads), ...Object.values(checkpointed.grads)]);
    model.dispose();
  });

  it('keeps fewer bytes at the peak of a training step', async () => {
    setSeed(1);
    const model = new Stack(6, 64);
    const x = tf.randomNormal([64, 64], 0, 1, 'float32', 2);
    const peak = async (on: boolean) =>
      (await tf.profile(() => {
        const r = gradsOf(model, x, on);
        tf.dispose([r.value, ...Object.values(r.grads)]);
      })).peakBytes;
    const off = await peak(false);
    const on = await peak(true);
    expect(on).toBeLessThan(0.8 * off);
    tf.dispose(x);
    model.dispose();
  });

  it('counts the block stacks it switched, so a model without one can be told apart', () => {
    expect(setGradientCheckpointing(new Stack(2, 4), true)).toBe(1);
    expect(setGradientCheckpointing(new Sequential(new Linear(2, 2)), true)).toBe(0);
  });
});
