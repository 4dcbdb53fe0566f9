import { Dropout, setSeed, tf } from '@leantune/tensor';

describe('Dropout', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  const x = () => tf.reshape(tf.range(1, 4001), [40, 100]);

  it('is the identity in eval mode and when p = 0', () => {
    const input = x();
    expect(new Dropout(0.5).eval().forward(input)).toBe(input);
    expect(new Dropout(0).forward(input)).toBe(input);
  });

  it('zeroes about p of the values and scales the rest by 1/(1-p)', () => {
    const input = x();
    const y = new Dropout(0.25).forward(input).dataSync();
    const xv = input.dataSync();
    let dropped = 0;
    for (let i = 0; i < y.length; i++) {
      if (y[i] === 0) dropped++;
      else expect(y[i]).toBeCloseTo(xv[i] / 0.75, 3);
    }
    // 4000 Bernoulli(0.25) draws: mean 1000, sd ≈ 27.
    expect(dropped).toBeGreaterThan(880);
    expect(dropped).toBeLessThan(1120);
  });

  it('gives the same mask under the same seed and a new mask on the next call', () => {
    const layer = new Dropout(0.5);
    setSeed(123);
    const a = Array.from(layer.forward(x()).dataSync());
    const b = Array.from(layer.forward(x()).dataSync());
    setSeed(123);
    const c = Array.from(layer.forward(x()).dataSync());
    expect(c).toEqual(a);
    expect(b).not.toEqual(a);
  });

  it('with p = 1 drops everything, and rejects p outside [0, 1]', () => {
    expect(Array.from(new Dropout(1).forward(tf.ones([3])).dataSync())).toEqual([0, 0, 0]);
    expect(() => new Dropout(1.5)).toThrow('Dropout: p must be in [0, 1], got 1.5');
  });

  it('passes the gradient through the kept positions only, scaled', () => {
    const v = tf.variable(tf.ones([200]));
    const layer = new Dropout(0.5);
    setSeed(5);
    const y = layer.forward(v).dataSync();
    setSeed(5);
    const { grads, value } = tf.variableGrads(() => tf.sum(layer.forward(v)), [v]);
    const g = grads[v.name].dataSync();
    for (let i = 0; i < y.length; i++) expect(g[i]).toBeCloseTo(y[i], 5); // y = mask·2 = dy/dx
    tf.dispose([value, grads[v.name], v]);
  });

  it('keeps nothing for the backward but draws the same mask again from its seed', () => {
    const v = tf.variable(tf.randomNormal([64, 64]));
    const layer = new Dropout(0.3);
    let added = -1;
    let out = 0;
    const { grads, value } = tf.variableGrads(() => {
      const before = tf.memory().numBytes;
      const y = layer.forward(v);
      // Only the output is new: no float mask, no scaled mask (tf.mul would keep both).
      added = tf.memory().numBytes - before;
      out = y.size * 4;
      return tf.sum(tf.mul(y, y));
    }, [v]);
    expect(added).toBe(out);
    // d/dx Σ (x·m)² = 2·x·m² where m is the scaled mask: zero where dropped, 2x/(1−p)² where kept.
    const g = grads[v.name].dataSync();
    const xv = v.dataSync();
    let kept = 0;
    for (let i = 0; i < g.length; i++) {
      if (g[i] === 0) continue;
      kept++;
      expect(g[i]).toBeCloseTo((2 * xv[i]) / 0.49, 3);
    }
    expect(kept / g.length).toBeGreaterThan(0.6);
    expect(kept / g.length).toBeLessThan(0.8);
    tf.dispose([value, grads[v.name], v]);
  });
});
