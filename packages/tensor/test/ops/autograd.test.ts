import { customOp, fusedLayerNorm, geluTanh, Linear, LayerNorm, setSeed, tf, variableGradients } from '@leantune/tensor';

/** A small deep stack: Linear → LayerNorm → GELU, repeated, then a scalar loss. */
function stack(depth: number, width: number) {
  setSeed(3);
  const layers = Array.from({ length: depth }, () => ({ linear: new Linear(width, width), norm: new LayerNorm(width) }));
  const x = tf.randomNormal([16, width], 0, 1, 'float32', 5);
  const loss = () => {
    let h: tf.Tensor = x;
    for (const { linear, norm } of layers) h = geluTanh(norm.forward(linear.forward(h)));
    return tf.mean(tf.square(h)) as tf.Scalar;
  };
  const vars = layers.flatMap(({ linear, norm }) => [...linear.namedParameters(), ...norm.namedParameters()].map(([, p]) => p.variable));
  return { loss, vars, dispose: () => { x.dispose(); for (const l of layers) { l.linear.dispose(); l.norm.dispose(); } } };
}

describe('variableGradients', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('gives exactly the gradients tf.variableGrads gives, and leaks nothing', () => {
    const net = stack(3, 24);
    const before = tf.memory().numTensors;
    const ours = variableGradients(net.loss, net.vars);
    const stock = tf.variableGrads(net.loss, net.vars);
    expect(ours.value.dataSync()[0]).toBe(stock.value.dataSync()[0]);
    expect(Object.keys(ours.grads).sort()).toEqual(Object.keys(stock.grads).sort());
    for (const name of Object.keys(stock.grads)) {
      expect(Array.from(ours.grads[name].dataSync())).toEqual(Array.from(stock.grads[name].dataSync()));
    }
    tf.dispose([ours.value, stock.value, ...Object.values(ours.grads), ...Object.values(stock.grads)]);
    expect(tf.memory().numTensors).toBe(before);
    net.dispose();
  });

  it('frees saved activations and spent gradients during the backward pass', async () => {
    const net = stack(8, 64);
    const peak = async (f: () => { value: tf.Tensor; grads: Record<string, tf.Tensor> }) => {
      const info = await tf.profile(() => {
        const r = f();
        tf.dispose([r.value, ...Object.values(r.grads)]);
      });
      return info.peakBytes;
    };
    const stockPeak = await peak(() => tf.variableGrads(net.loss, net.vars));
    const ourPeak = await peak(() => variableGradients(net.loss, net.vars));
    // The stock engine holds every saved tensor and every activation gradient until the end.
    expect(ourPeak).toBeLessThan(0.75 * stockPeak);
    net.dispose();
  });

  it('gives no gradient for a variable the loss does not reach, and refuses a non-scalar', () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]));
    const unused = tf.variable(tf.tensor1d([4]));
    const r = variableGradients(() => tf.sum(tf.square(a)) as tf.Scalar, [a, unused]);
    expect(Array.from(r.grads[a.name].dataSync())).toEqual([2, 4, 6]);
    expect(r.grads[unused.name]).toBeUndefined();
    tf.dispose([r.value, ...Object.values(r.grads)]);
    const before = tf.memory().numTensors;
    expect(() => variableGradients(() => tf.square(a) as unknown as tf.Scalar, [a])).toThrow('variableGradients: f must return a scalar, got a rank-1 tensor');
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([a, unused]);
  });

  it('keeps a gradient that a gradient function hands back as is (dy for both inputs)', () => {
    const a = tf.variable(tf.tensor1d([1, 2, 3]));
    // a + a whose backward returns dy itself for both inputs, after `a` already got a gradient from sum(a).
    const passThrough = (x: tf.Tensor, y: tf.Tensor) =>
      customOp([x, y], ([p, q]) => ({ value: tf.add(p, q), gradFunc: (dy) => [dy, dy] }));
    const f = () => tf.add(tf.sum(tf.mul(passThrough(a, a), tf.tensor1d([1, 10, 100]))), tf.sum(a)) as tf.Scalar;
    const ours = variableGradients(f, [a]);
    expect(Array.from(ours.grads[a.name].dataSync())).toEqual([3, 21, 201]);
    tf.dispose([a, ours.value, ...Object.values(ours.grads)]);
  });

  it('works through custom-gradient (fused) ops', () => {
    const x = tf.variable(tf.randomNormal([4, 8], 0, 1, 'float32', 1));
    const f = () => tf.sum(tf.mul(fusedLayerNorm(x, undefined, undefined, 1e-5), tf.linspace(0, 1, 8))) as tf.Scalar;
    const ours = variableGradients(f, [x]);
    const stock = tf.variableGrads(f, [x]);
    expect(Array.from(ours.grads[x.name].dataSync())).toEqual(Array.from(stock.grads[x.name].dataSync()));
    tf.dispose([ours.value, stock.value, ...Object.values(ours.grads), ...Object.values(stock.grads), x]);
  });
});
