import {
  BatchNorm, Conv1D, Conv2d, Embedding, LayerNorm, Linear, MLP, Module, MultiHeadAttention, Sequential, activation, tf,
} from '@leantune/tensor';

interface Case {
  layer: Module;
  input: () => tf.Tensor;
  forward?: (layer: Module, x: tf.Tensor) => tf.Tensor;
}

/** One training step's tensor work: forward, loss, gradients of every trainable variable. */
function forwardBackward(c: Case, x: tf.Tensor): void {
  const vars = [...c.layer.trainableVariables().values()];
  const forward = c.forward ?? ((l: Module, t: tf.Tensor) => l.forward(t) as tf.Tensor);
  const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(forward(c.layer, x))), vars);
  expect(Object.keys(grads).length).toBe(vars.length);
  tf.dispose([value, ...Object.values(grads)]);
}

describe('no tensor leaks across repeated forward + backward', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const cases: Record<string, () => Case> = {
    Linear: () => ({ layer: new Linear(4, 3), input: () => tf.ones([2, 5, 4]) }),
    Conv1D: () => ({ layer: new Conv1D(3, 4), input: () => tf.ones([2, 4]) }),
    Embedding: () => ({ layer: new Embedding(6, 3, { paddingIdx: 0 }), input: () => tf.tensor2d([[1, 2], [0, 5]], [2, 2], 'int32') }),
    LayerNorm: () => ({ layer: new LayerNorm(4), input: () => tf.randomNormal([3, 4], 0, 1, 'float32', 1) }),
    BatchNorm: () => ({ layer: new BatchNorm(3), input: () => tf.randomNormal([2, 2, 2, 3], 0, 1, 'float32', 2) }),
    MLP: () => ({ layer: new MLP(4, 8, 'gelu_new', { dropout: 0.2 }), input: () => tf.ones([2, 3, 4]) }),
    MultiHeadAttention: () => ({
      layer: new MultiHeadAttention(4, 2, { causal: true, dropout: 0.1 }),
      input: () => tf.randomNormal([2, 3, 4], 0, 1, 'float32', 3),
      forward: (l, x) => (l as MultiHeadAttention).forward(x, { attentionMask: tf.tensor2d([[1, 1, 0], [1, 1, 1]]) }),
    }),
    Conv2d: () => ({
      layer: new Sequential(
        new Conv2d(2, 4, 3, { padding: 1 }),
        activation('relu'),
        new Conv2d(4, 4, 3, { groups: 4, stride: 2, padding: 'same' }),
        new Conv2d(4, 2, 1, { groups: 2 }),
      ),
      input: () => tf.randomNormal([1, 5, 5, 2], 0, 1, 'float32', 4),
    }),
  };

  it.each(Object.keys(cases))('%s', (name) => {
    const c = cases[name]();
    const x = c.input();
    forwardBackward(c, x); // warm-up: tfjs may cache per-backend state on first use
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) forwardBackward(c, x);
    c.layer.eval();
    const forward = c.forward ?? ((l: Module, t: tf.Tensor) => l.forward(t) as tf.Tensor);
    tf.tidy(() => {
      forward(c.layer, x); // eval path
    });
    expect(tf.memory().numTensors).toBe(before);
    c.layer.dispose();
    x.dispose();
  });
});
