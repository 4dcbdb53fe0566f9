import { loadAddon } from '@leantune/native';
import { clipWithGrad, fusedGelu, fusedLayerNorm, normal, setSeed, softmaxCrossEntropyWithLabels, tf, uniform, variableGradients } from '@leantune/tensor';
import { AdamW } from '@leantune/train';
import { countingAddon, useNativeBackend } from './counting-addon';
import { seededValues } from './reference';

// The fused ops of @leantune/tensor computed by the native kernels equal the stock-op path
// of the cpu backend, forward and backward; AdamW updates in place; fills are seeded.

const counted = countingAddon(loadAddon());

/** Runs `f` on the cpu backend, then on native, with inputs made from the same values. */
async function both<T>(f: () => T): Promise<{ cpu: T; native: T }> {
  await tf.setBackend('cpu');
  const cpu = f();
  await useNativeBackend(counted.addon);
  const native = f();
  return { cpu, native };
}

function t(shape: number[], seed: number, scale = 1): tf.Tensor {
  return tf.mul(tf.tensor(seededValues(tf.util.sizeFromShape(shape), seed), shape), scale);
}

/** Output and gradients (w.r.t. every input) of a weighted sum of `op(inputs)`, as plain arrays. */
function valueAndGrads(shapes: number[][], op: (xs: tf.Tensor[]) => tf.Tensor): number[][] {
  return tf.tidy(() => {
    const vars = shapes.map((s, i) => tf.variable(t(s, i + 1, 2)));
    const weights = (y: tf.Tensor) => t(y.shape, 99);
    const y = op(vars);
    const { value, grads } = variableGradients(() => tf.sum(tf.mul(op(vars), weights(y))) as tf.Scalar, vars);
    const out = [Array.from(y.dataSync()), [value.dataSync()[0]], ...vars.map((v) => Array.from(grads[v.name].dataSync()))];
    vars.forEach((v) => v.dispose());
    return out;
  });
}

function expectClose(actual: number[][], expected: number[][], tol: number): void {
  expect(actual.map((a) => a.length)).toEqual(expected.map((e) => e.length));
  actual.forEach((a, i) => a.forEach((v, j) => expect(Math.abs(v - expected[i][j])).toBeLessThanOrEqual(tol * (1 + Math.abs(expected[i][j])))));
}

describe('fused kernels on the native backend', () => {
  afterAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each([true, false])('GELU (approximate %s) and its gradient match the stock ops', async (approximate) => {
    const before = counted.callsOf('gelu');
    const r = await both(() => valueAndGrads([[33, 70]], ([x]) => fusedGelu(x, approximate)));
    expectClose(r.native, r.cpu, 2e-5);
    expect(counted.callsOf('gelu') - before).toBeGreaterThan(0);
    expect(counted.callsOf('geluGrad')).toBeGreaterThan(0);
  });

  it('LayerNorm with and without gain and bias, and its gradients, match the stock ops', async () => {
    const affine = await both(() => valueAndGrads([[17, 96], [96], [96]], ([x, g, b]) => fusedLayerNorm(x, g, b, 1e-5)));
    expectClose(affine.native, affine.cpu, 5e-5);
    const plain = await both(() => valueAndGrads([[5, 40]], ([x]) => fusedLayerNorm(x, undefined, undefined, 1e-5)));
    expectClose(plain.native, plain.cpu, 5e-5);
    expect(counted.callsOf('layerNormGrad')).toBeGreaterThan(0);
  });

  it('softmax cross-entropy from class ids (ignored rows included) and its gradient match the one-hot stock ops', async () => {
    const labels = [3, -100, 1999, 0, 7, 2048];
    const r = await both(() =>
      valueAndGrads([[6, 2048]], ([logits]) => {
        const loss = softmaxCrossEntropyWithLabels(logits, tf.tensor1d(labels, 'int32'));
        return tf.reshape(loss, [1]);
      }),
    );
    expectClose(r.native, r.cpu, 2e-5);
    expect(counted.callsOf('softmaxCrossEntropyGrad')).toBeGreaterThan(0);
  });

  it('clip (ReLU6) with its one-kernel gradient equals tf.clipByValue and its stock gradient exactly, edges and NaN included', async () => {
    const edges = [-1, 0, 0.5, 6, 6.5, Number.NaN, -0, 3];
    const inputs = () => tf.concat([tf.tensor1d(edges), tf.reshape(t([4, 9, 9, 16], 5, 8), [-1])]);
    const gradOf = (clip: (x: tf.Tensor) => tf.Tensor) => tf.tidy(() => {
      const x = inputs();
      const w = t(x.shape, 7);
      const [dx] = tf.grads((a: tf.Tensor) => tf.sum(tf.mul(clip(a), w)))([x]);
      return { y: Array.from(clip(x).dataSync()), dx: Array.from(dx.dataSync()) };
    });
    await tf.setBackend('cpu');
    const stock = gradOf((x) => tf.clipByValue(x, 0, 6));
    await useNativeBackend(counted.addon);
    const fused = gradOf((x) => clipWithGrad(x, 0, 6));
    expect(fused.y).toEqual(stock.y);
    expect(fused.dx).toEqual(stock.dx);
    expect(fused.dx.slice(0, edges.length).map((v, i) => (v === 0 ? 0 : v === stock.dx[i] ? 'dy' : v))).toEqual([0, 'dy', 'dy', 'dy', 0, 0, 'dy', 'dy']);
    // The backward is the one fused kernel, none of the stock where-form's five.
    const prof = await tf.profile(() => gradOf((x) => clipWithGrad(x, 0, 6)));
    const names = prof.kernels.map((k) => k.name);
    expect(names).toContain('LeantuneClipGrad');
    expect(names.filter((n) => ['Select', 'LogicalAnd', 'GreaterEqual', 'LessEqual'].includes(n))).toEqual([]);
  });

  it('the softmax gradient (attention probabilities) matches the stock ops', async () => {
    const before = counted.callsOf('softmaxGrad');
    const r = await both(() => valueAndGrads([[2, 3, 40, 40]], ([x]) => tf.softmax(x)));
    expectClose(r.native, r.cpu, 2e-5);
    expect(counted.callsOf('softmaxGrad') - before).toBeGreaterThan(0);
  });

  it('reads a float32 tensor that shares a bool tensor\'s bytes (the cpu Cast of a dropout mask) as floats', async () => {
    const r = await both(() => tf.tidy(() => {
      const x = t([64, 64], 3);
      const mask = tf.cast(tf.greater(x, 0), 'float32');
      return Array.from(tf.div(tf.mul(mask, x), 0.9).dataSync());
    }));
    expect(r.native).toEqual(r.cpu);
  });

  it('AdamW steps in place on native and equals the stock-op update on cpu', async () => {
    const run = () => {
      const p = tf.tidy(() => tf.variable(t([300, 70], 5), true, 'p'));
      const opt = new AdamW(new Map([['p', p]]), { weightDecay: 0.1 });
      const dataId = p.dataId;
      for (let step = 0; step < 3; step++) tf.tidy(() => opt.step(new Map([['p', t([300, 70], 10 + step)]]), 0.01));
      const out = { values: Array.from(p.dataSync()), sameStorage: p.dataId === dataId };
      opt.dispose();
      p.dispose();
      return out;
    };
    const before = counted.callsOf('adamw');
    const r = await both(run);
    expectClose([r.native.values], [r.cpu.values], 1e-6);
    expect(counted.callsOf('adamw') - before).toBe(3);
    expect(r.native.sameStorage).toBe(true);
    expect(r.cpu.sameStorage).toBe(false);
  });

  it('does not update in place a parameter whose storage another tensor shares', async () => {
    await useNativeBackend(counted.addon);
    const initial = t([200, 100], 5);
    const p = tf.variable(initial); // shares initial's data while `initial` lives
    const opt = new AdamW(new Map([['p', p]]));
    const before = counted.callsOf('adamw');
    tf.tidy(() => opt.step(new Map([['p', tf.onesLike(p)]]), 0.1));
    expect(counted.callsOf('adamw')).toBe(before);
    expect(Array.from(initial.dataSync().slice(0, 3))).toEqual(Array.from(t([3], 5).dataSync()));
    tf.dispose([initial, p]);
    opt.dispose();
  });

  it("never updates a caller's array in place: tf.tensor's input and dataSync's output stay as they were", async () => {
    await useNativeBackend(counted.addon);
    const mine = new Float32Array([1, 2, 3, 4]);
    const p = tf.variable(tf.zeros([4]));
    const given = tf.tensor(mine);
    p.assign(given); // the variable now stores the caller's array
    given.dispose();
    const opt = new AdamW(new Map([['p', p]]), { weightDecay: 0.1 });
    const before = counted.callsOf('adamw');
    tf.tidy(() => opt.step(new Map([['p', tf.onesLike(p)]]), 0.1));
    expect(Array.from(mine)).toEqual([1, 2, 3, 4]);
    expect(Array.from(p.dataSync())).not.toEqual([1, 2, 3, 4]);
    // That step made the backend's own buffer; dataSync handed it out, so the next step copies again.
    const read = p.dataSync();
    const snapshot = Array.from(read);
    tf.tidy(() => opt.step(new Map([['p', tf.onesLike(p)]]), 0.1));
    expect(Array.from(read)).toEqual(snapshot);
    // A parameter nobody outside holds is updated in place, as before.
    tf.tidy(() => opt.step(new Map([['p', tf.onesLike(p)]]), 0.1));
    expect(counted.callsOf('adamw') - before).toBe(1);
    tf.dispose(p);
    opt.dispose();
  });

  it('seeded fills: the same seed gives the same values, and the moments are right', async () => {
    await useNativeBackend(counted.addon);
    setSeed(3);
    const a = normal([400, 500], 0.02);
    setSeed(3);
    const b = normal([400, 500], 0.02);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const { mean, variance } = tf.moments(a);
    expect(Math.abs(mean.dataSync()[0])).toBeLessThan(2e-4);
    expect(Math.sqrt(variance.dataSync()[0])).toBeCloseTo(0.02, 3);
    const u = uniform([1000, 100], -2, 3);
    expect(tf.min(u).dataSync()[0]).toBeGreaterThanOrEqual(-2);
    expect(tf.max(u).dataSync()[0]).toBeLessThan(3);
    expect(counted.callsOf('fillNormal')).toBeGreaterThanOrEqual(2);
    tf.dispose([a, b, mean, variance, u]);
  });
});
