import { tf } from '@leantune/tensor';
import { AdamW, createOptimizer, SGD } from '@leantune/train';

/** Plain-JS float64 transcriptions of the PyTorch update rules, one element at a time. */
function adamwReference(p0: number[], grads: number[][], lr: number, b1: number, b2: number, eps: number, wd: number): number[] {
  const p = [...p0];
  const m = p.map(() => 0);
  const v = p.map(() => 0);
  grads.forEach((g, s) => {
    const t = s + 1;
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      const denom = Math.sqrt(v[i]) / Math.sqrt(1 - b2 ** t) + eps;
      p[i] -= (lr / (1 - b1 ** t)) * (m[i] / denom);
    }
  });
  return p;
}

function sgdReference(p0: number[], grads: number[][], lr: number, mu: number, wd: number, nesterov: boolean): number[] {
  const p = [...p0];
  let buf: number[] | null = null;
  for (const g0 of grads) {
    const g = g0.map((gi, i) => gi + wd * p[i]);
    let d = g;
    if (mu > 0) {
      buf = buf === null ? [...g] : buf.map((b, i) => mu * b + g[i]);
      const b = buf;
      d = nesterov ? g.map((gi, i) => gi + mu * b[i]) : b;
    }
    for (let i = 0; i < p.length; i++) p[i] -= lr * d[i];
  }
  return p;
}

const P0 = [0.5, -1.25, 2, 0.1];
const GRADS = [
  [0.3, -0.2, 1.5, 0],
  [-0.4, 0.1, 0.5, 0.2],
  [0.25, 0.25, -1, -0.3],
];

function run(opt: 'adamw' | 'sgd', options: Record<string, unknown>, lr: number): number[] {
  const w = tf.variable(tf.tensor1d(P0));
  const o = opt === 'adamw' ? new AdamW(new Map([['w', w]]), options) : new SGD(new Map([['w', w]]), options);
  for (const g of GRADS) {
    const gt = tf.tensor1d(g);
    o.step(new Map([['w', gt]]), lr);
    gt.dispose();
  }
  const out = Array.from(w.dataSync());
  o.dispose();
  w.dispose();
  return out;
}

function expectClose(actual: number[], expected: number[], tol = 1e-6): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((a, i) => expect(Math.abs(a - expected[i])).toBeLessThan(tol));
}

describe('AdamW', () => {
  it('matches PyTorch AdamW (decoupled decay, bias correction) over 3 steps', () => {
    const got = run('adamw', { betas: [0.8, 0.95], eps: 1e-6, weightDecay: 0.1 }, 0.05);
    expectClose(got, adamwReference(P0, GRADS, 0.05, 0.8, 0.95, 1e-6, 0.1));
  });

  it('takes a first step of exactly lr·sign(g) without decay (bias correction)', () => {
    const w = tf.variable(tf.tensor1d([1, 1]));
    const o = new AdamW(new Map([['w', w]]), { weightDecay: 0, eps: 0 });
    const g = tf.tensor1d([3, -0.001]);
    o.step(new Map([['w', g]]), 0.1);
    expectClose(Array.from(w.dataSync()), [0.9, 1.1]);
    tf.dispose([g, w]);
    o.dispose();
  });

  it('exempts parameters matching noDecay from weight decay', () => {
    const a = tf.variable(tf.tensor1d([2]));
    const bias = tf.variable(tf.tensor1d([2]));
    const o = new AdamW(new Map([['a', a], ['l.bias', bias]]), { weightDecay: 0.5, noDecay: /.*\.bias/ });
    const zero = tf.tensor1d([0]);
    o.step(new Map([['a', zero], ['l.bias', zero]]), 0.1);
    // A zero gradient leaves only the decay: a ← 2·(1 − 0.1·0.5) = 1.9; the bias stays.
    expect(a.dataSync()[0]).toBeCloseTo(1.9, 6);
    expect(bias.dataSync()[0]).toBe(2);
    tf.dispose([a, bias, zero]);
    o.dispose();
  });

  it('state dict round trip continues exactly like an uninterrupted optimizer', () => {
    const straight = run('adamw', { weightDecay: 0.01 }, 0.01);
    const w = tf.variable(tf.tensor1d(P0));
    const first = new AdamW(new Map([['w', w]]), { weightDecay: 0.01 });
    const g0 = tf.tensor1d(GRADS[0]);
    first.step(new Map([['w', g0]]), 0.01);
    const sd = first.stateDict();
    expect(sd.step).toBe(1);
    expect(sd.paramSteps).toEqual({ w: 1 });
    expect([...sd.tensors.keys()].sort()).toEqual(['w.exp_avg', 'w.exp_avg_sq']);
    expectClose(Array.from(sd.tensors.get('w.exp_avg')!.dataSync()), GRADS[0].map((g) => 0.1 * g));
    const second = new AdamW(new Map([['w', w]]), { weightDecay: 0.01 });
    second.loadStateDict(sd);
    first.dispose();
    for (const g of GRADS.slice(1)) {
      const gt = tf.tensor1d(g);
      second.step(new Map([['w', gt]]), 0.01);
      gt.dispose();
    }
    expectClose(Array.from(w.dataSync()), straight);
    expect(second.stepCount).toBe(3);
    tf.dispose([w, g0]);
    second.dispose();
  });

  it('skips a parameter without a gradient, keeping its own step count', () => {
    const a = tf.variable(tf.tensor1d([1]));
    const b = tf.variable(tf.tensor1d([1]));
    const o = new AdamW(new Map([['a', a], ['b', b]]), { weightDecay: 0.5 });
    const g = tf.tensor1d([1]);
    o.step(new Map([['a', g]]), 0.1);
    o.step(new Map([['a', g], ['b', g]]), 0.1);
    expect(o.stateDict().paramSteps).toEqual({ a: 2, b: 1 });
    // b's single step is a first step: decay then −lr·sign(g).
    expect(b.dataSync()[0]).toBeCloseTo(1 * (1 - 0.05) - 0.1, 5);
    tf.dispose([a, b, g]);
    o.dispose();
  });

  it('rejects unknown gradients, wrong shapes and bad state with clear messages', () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const o = new AdamW(new Map([['w', w]]));
    const g = tf.tensor1d([1, 2, 3]);
    expect(() => o.step(new Map([['v', g]]), 0.1)).toThrow(/unknown parameter "v"/);
    expect(() => o.step(new Map([['w', g]]), 0.1)).toThrow(/"w" has shape \[3\], parameter has \[2\]/);
    expect(() => o.loadStateDict({ step: 1, paramSteps: { w: 1 }, tensors: new Map([['w.momentum_buffer', g]]) }, 'ckpt/x')).toThrow(
      /ckpt\/x.*unexpected key "w.momentum_buffer"/,
    );
    expect(() => o.loadStateDict({ step: 1, paramSteps: { w: 1 }, tensors: new Map([['w.exp_avg', g]]) })).toThrow(/shape \[3\]/);
    expect(() => new AdamW(new Map([['w', w]]), { betas: [1, 0.9] })).toThrow(/betas\[0\] must be in \[0, 1\)/);
    expect(() => new AdamW(new Map())).toThrow(/no trainable parameters/);
    tf.dispose([w, g]);
    o.dispose();
  });
});

describe('SGD', () => {
  it('plain SGD with weight decay matches PyTorch', () => {
    expectClose(run('sgd', { weightDecay: 0.1 }, 0.1), sgdReference(P0, GRADS, 0.1, 0, 0.1, false));
  });

  it('momentum matches PyTorch (buffer starts as the first gradient)', () => {
    expectClose(run('sgd', { momentum: 0.9 }, 0.1), sgdReference(P0, GRADS, 0.1, 0.9, 0, false));
  });

  it('nesterov momentum with weight decay matches PyTorch', () => {
    expectClose(run('sgd', { momentum: 0.9, nesterov: true, weightDecay: 0.01 }, 0.1), sgdReference(P0, GRADS, 0.1, 0.9, 0.01, true));
  });

  it('hand-computed two momentum steps', () => {
    // g = 1 twice, μ = 0.5, lr = 1: buf 1 then 1.5 → p = 0 − 1 − 1.5.
    const w = tf.variable(tf.scalar(0));
    const o = createOptimizer({ name: 'sgd', lr: 1, momentum: 0.5 }, new Map([['w', w]]));
    const g = tf.scalar(1);
    o.step(new Map([['w', g]]), 1);
    o.step(new Map([['w', g]]), 1);
    expect(w.dataSync()[0]).toBeCloseTo(-2.5, 6);
    expect(o.stateDict().tensors.get('w.momentum_buffer')!.dataSync()[0]).toBeCloseTo(1.5, 6);
    tf.dispose([w, g]);
    o.dispose();
  });

  it('rejects nesterov without momentum and unknown optimizer names', () => {
    const w = tf.variable(tf.scalar(0));
    expect(() => new SGD(new Map([['w', w]]), { nesterov: true })).toThrow(/nesterov needs momentum > 0/);
    expect(() => createOptimizer({ name: 'lion', lr: 1 } as never, new Map([['w', w]]))).toThrow(/Unknown optimizer "lion"/);
    w.dispose();
  });

  it('leaks no tensors across steps', () => {
    const w = tf.variable(tf.tensor1d(P0));
    const o = new SGD(new Map([['w', w]]), { momentum: 0.9 });
    const g = tf.tensor1d(GRADS[0]);
    o.step(new Map([['w', g]]), 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) o.step(new Map([['w', g]]), 0.1);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([w, g]);
    o.dispose();
  });
});
