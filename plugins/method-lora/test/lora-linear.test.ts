import { Conv1D, Linear, setSeed, tf } from '@leantune/tensor';
import { LoraLinear, type AdapterSettings } from '../src/lora-linear';
import { maxAbsDiff, mm, randn, toRows, tr, values } from '@leantune/testing';

const settings = (over: Partial<AdapterSettings> = {}): AdapterSettings => ({ r: 2, alpha: 4, scaling: 2, dropout: 0, useDora: false, init: true, ...over });

function setAB(layer: LoraLinear, name: string, seed: number): void {
  const a = layer.getParameter(`lora_A.${name}.weight`).variable;
  const b = layer.getParameter(`lora_B.${name}.weight`).variable;
  a.assign(randn(a.shape, seed));
  b.assign(randn(b.shape, seed + 1));
}

describe('LoraLinear', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(3);
  });

  it('names its parameters as PEFT does and starts as the base layer (B = 0)', () => {
    const base = new Linear(5, 3);
    const x = randn([4, 5], 1);
    const before = base.forward(x);
    const layer = new LoraLinear(base, 'default', settings());
    expect([...layer.namedParameters()].map(([p, v]) => [p, v.shape])).toEqual([
      ['base_layer.weight', [3, 5]],
      ['base_layer.bias', [3]],
      ['lora_A.default.weight', [2, 5]],
      ['lora_B.default.weight', [3, 2]],
    ]);
    expect(values(layer.getParameter('lora_B.default.weight').variable).every((v) => v === 0)).toBe(true);
    // A is Kaiming-uniform(a=√5): U(±1/√in), not zero.
    const a = values(layer.getParameter('lora_A.default.weight').variable);
    expect(Math.max(...a.map(Math.abs))).toBeLessThanOrEqual(1 / Math.sqrt(5));
    expect(a.some((v) => v !== 0)).toBe(true);
    expect(maxAbsDiff(layer.forward(x), before)).toBe(0);
  });

  it('adds B·A·x·scaling to the base output (checked against plain-JS matrices)', () => {
    const base = new Linear(5, 3);
    const layer = new LoraLinear(base, 'default', settings({ scaling: 2.5 }));
    setAB(layer, 'default', 10);
    const x = randn([4, 5], 2);
    const W = toRows(base.weight);
    const bias = values(base.bias!);
    const A = toRows(layer.getParameter('lora_A.default.weight').variable);
    const B = toRows(layer.getParameter('lora_B.default.weight').variable);
    const X = toRows(x);
    const expected = mm(X, tr(W)).map((row, i) => row.map((v, j) => v + bias[j] + 2.5 * mm(mm(X, tr(A)), tr(B))[i][j]));
    expect(values(layer.forward(x))).toEqual(expected.flat().map((v) => expect.closeTo(v, 5)));
  });

  it('wraps GPT-2 Conv1D ([in, out] weight) with A [r, in], B [out, r], and merges with a transpose', () => {
    const base = new Conv1D(6, 4); // nf = 6 out, nx = 4 in
    const layer = new LoraLinear(base, 'default', settings());
    expect(layer.fanInFanOut).toBe(true);
    expect(layer.getParameter('lora_A.default.weight').shape).toEqual([2, 4]);
    expect(layer.getParameter('lora_B.default.weight').shape).toEqual([6, 2]);
    setAB(layer, 'default', 20);
    const x = randn([3, 4], 4);
    const unmerged = layer.forward(x);
    layer.merge();
    expect(maxAbsDiff(layer.forward(x), unmerged)).toBeLessThan(1e-5);
    layer.unmerge();
    expect(maxAbsDiff(layer.forward(x), unmerged)).toBeLessThan(1e-5);
  });

  it('merged output equals unmerged, and unmerge restores the base weight', () => {
    const base = new Linear(6, 5);
    const original = tf.clone(base.weight);
    const layer = new LoraLinear(base, 'default', settings({ r: 3, scaling: 0.7 }));
    setAB(layer, 'default', 30);
    const x = randn([4, 6], 5);
    const unmerged = layer.forward(x);
    layer.merge();
    expect(layer.merged).toBe(true);
    expect(maxAbsDiff(base.weight, original)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(layer.forward(x), unmerged)).toBeLessThan(1e-5);
    layer.unmerge();
    expect(maxAbsDiff(base.weight, original)).toBeLessThan(1e-6);
  });

  it('rejects a rank above min(in, out)', () => {
    expect(() => new LoraLinear(new Linear(6, 3), 'default', settings({ r: 4 }))).toThrow(/rank 4 exceeds min\(in, out\) = 3/);
  });

  it('"gaussian" init draws A with std 1/r and zero B', () => {
    const layer = new LoraLinear(new Linear(64, 64), 'default', settings({ r: 4, init: 'gaussian' }));
    const a = values(layer.getParameter('lora_A.default.weight').variable);
    const std = Math.sqrt(a.reduce((s, v) => s + v * v, 0) / a.length);
    expect(std).toBeGreaterThan(0.2);
    expect(std).toBeLessThan(0.3);
    expect(values(layer.getParameter('lora_B.default.weight').variable).every((v) => v === 0)).toBe(true);
  });

  it('init false keeps nn.Linear init for both A and B (not a no-op)', () => {
    const layer = new LoraLinear(new Linear(8, 8), 'default', settings({ init: false }));
    expect(values(layer.getParameter('lora_B.default.weight').variable).some((v) => v !== 0)).toBe(true);
  });

  it('PiSSA: A, B hold the top-r singular part of W, the base keeps the residual, output unchanged', () => {
    const base = new Linear(6, 5);
    const W = tf.clone(base.weight);
    const x = randn([3, 6], 6);
    const before = base.forward(x);
    const layer = new LoraLinear(base, 'default', settings({ r: 2, scaling: 0.5, init: 'pissa' }));
    expect(maxAbsDiff(layer.forward(x), before)).toBeLessThan(1e-5);
    const B = layer.getParameter('lora_B.default.weight').variable;
    const A = layer.getParameter('lora_A.default.weight').variable;
    // The base keeps exactly W − scaling·B·A.
    const principal = tf.mul(tf.matMul(B, A), 0.5);
    const residual = tf.sub(W, principal);
    expect(maxAbsDiff(base.weight, residual)).toBeLessThan(1e-5);
    // B's columns are orthogonal (B = U_r·√(S/s)), and A's rows too.
    const btb = toRows(tf.matMul(B, B, true, false));
    expect(Math.abs(btb[0][1])).toBeLessThan(1e-4);
    const aat = toRows(tf.matMul(A, A, false, true));
    expect(Math.abs(aat[0][1])).toBeLessThan(1e-4);
    // The residual is orthogonal to the principal part: ⟨W - P, P⟩_F = 0.
    expect(Math.abs(tf.sum(tf.mul(residual, principal)).dataSync()[0])).toBeLessThan(1e-4);
    // And the principal part captures more energy than any other rank-2 part we try.
    const other = tf.matMul(tf.slice(W, [0, 0], [5, 2]), tf.slice(tf.eye(6), [0, 0], [2, 6]));
    const energy = (t: tf.Tensor) => tf.sum(tf.square(t)).dataSync()[0];
    expect(energy(principal)).toBeGreaterThan(energy(other));
  });

  it('DoRA: magnitude = ‖W‖ per output row at init; forward and merge follow PEFT formulas', () => {
    const base = new Linear(5, 4);
    const layer = new LoraLinear(base, 'default', settings({ useDora: true, scaling: 1.5 }));
    const mag = layer.getParameter('lora_magnitude_vector.default.weight').variable;
    const W = toRows(base.weight);
    expect(values(mag)).toEqual(W.map((row) => expect.closeTo(Math.hypot(...row), 5)));
    setAB(layer, 'default', 40);
    mag.assign(tf.add(mag, tf.tensor1d([0.1, -0.2, 0.3, 0.05])));
    const x = randn([3, 5], 7);
    // Independent formula: y = (m / ‖W + sBA‖_row) ⊙ (x·(W + sBA)ᵀ) + b.
    const A = toRows(layer.getParameter('lora_A.default.weight').variable);
    const B = toRows(layer.getParameter('lora_B.default.weight').variable);
    const BA = mm(B, A);
    const Wp = W.map((row, i) => row.map((v, j) => v + 1.5 * BA[i][j]));
    const m = values(mag);
    const bias = values(base.bias!);
    const expected = mm(toRows(x), tr(Wp)).map((row) => row.map((v, j) => (m[j] / Math.hypot(...Wp[j])) * v + bias[j]));
    const unmerged = layer.forward(x);
    expect(values(unmerged)).toEqual(expected.flat().map((v) => expect.closeTo(v, 4)));
    layer.merge();
    expect(maxAbsDiff(layer.forward(x), unmerged)).toBeLessThan(1e-5);
    layer.unmerge();
    expect(maxAbsDiff(base.weight, tf.tensor2d(W))).toBeLessThan(1e-5);
  });

  it('DoRA gradient: the weight norm is detached, so the magnitude gradient is x·Wᵀ/‖W‖ summed', () => {
    const base = new Linear(3, 2, { bias: false });
    const layer = new LoraLinear(base, 'default', settings({ useDora: true }));
    const mag = layer.getParameter('lora_magnitude_vector.default.weight').variable;
    const x = randn([4, 3], 8);
    const { grads } = tf.variableGrads(() => tf.sum(layer.forward(x)) as tf.Scalar, [mag]);
    const W = toRows(base.weight);
    const proj = mm(toRows(x), tr(W));
    const expected = [0, 1].map((j) => proj.reduce((acc, row) => acc + row[j], 0) / Math.hypot(...W[j]));
    expect(values(Object.values(grads)[0])).toEqual(expected.map((v) => expect.closeTo(v, 4)));
  });

  it('uses dropout only in training mode', () => {
    const layer = new LoraLinear(new Linear(8, 8), 'default', settings({ dropout: 0.5 }));
    setAB(layer, 'default', 50);
    const x = randn([4, 8], 9);
    layer.eval();
    const a = layer.forward(x);
    expect(maxAbsDiff(layer.forward(x), a)).toBe(0);
    layer.train();
    expect(maxAbsDiff(layer.forward(x), a)).toBeGreaterThan(1e-3);
  });

  it('leaks no tensors in forward, merge/unmerge or a gradient step', () => {
    const layer = new LoraLinear(new Linear(6, 4), 'default', settings({ useDora: true }));
    const x = randn([2, 6], 10);
    const vars = [...layer.trainableVariables().values()];
    const run = () => {
      tf.dispose(layer.forward(x));
      layer.merge();
      layer.unmerge();
      const { value, grads } = tf.variableGrads(() => tf.sum(layer.forward(x)) as tf.Scalar, vars);
      tf.dispose([value, ...Object.values(grads)]);
    };
    run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) run();
    expect(tf.memory().numTensors).toBe(before);
  });
});
