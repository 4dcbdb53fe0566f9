import { loadAddon, type Isa } from '@leantune/native';
import { initBackend, tf } from '@leantune/tensor';
import { AdamW } from '@leantune/train';
import { seededValues } from './reference';

// The fused kernels (csrc/fused*.cc) against plain float64 JS definitions, on every
// instruction set this CPU has and on 1 and 2 threads; gradients also against central
// differences of the float64 forward definitions.
const addon = loadAddon();
const ISAS = (['scalar', 'avx2', 'avx512'] as Isa[]).filter((isa) => addon.setIsa(isa));
const DETECTED = addon.info().detectedIsa;
afterAll(() => {
  addon.setIsa(DETECTED);
  addon.setThreads(1);
});

/** Runs `check` under every ISA × {1, 2} threads. */
function everyConfig(check: (config: string) => void): void {
  for (const isa of ISAS) {
    for (const threads of [1, 2]) {
      addon.setIsa(isa);
      addon.setThreads(threads);
      check(`${isa}/${threads}`);
    }
  }
  addon.setIsa(DETECTED);
}

const values = (n: number, seed: number, scale = 1): Float32Array => seededValues(n, seed).map((v) => v * scale);

/** Worst |a − b| / (floor + |b|). */
function worstRel(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1): number {
  if (a.length !== b.length) throw new Error(`lengths differ: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (floor + Math.abs(b[i])));
  return worst;
}

function labelsFor(rows: number, cols: number, seed: number): Int32Array {
  const u = seededValues(rows, seed);
  // Every third row: an ignored label (−100, or cols, both outside [0, cols)).
  return Int32Array.from(u, (v, r) => (r % 3 === 1 ? (r % 2 ? -100 : cols) : Math.min(cols - 1, Math.floor(((v + 1) / 2) * cols))));
}

// ---- float64 definitions ----
function refLogSumExp(x: ArrayLike<number>, off: number, cols: number): number {
  let max = -Infinity;
  for (let c = 0; c < cols; c++) max = Math.max(max, x[off + c]);
  let sum = 0;
  for (let c = 0; c < cols; c++) sum += Math.exp(x[off + c] - max);
  return max + Math.log(sum);
}
function refCrossEntropy(x: ArrayLike<number>, labels: Int32Array, rows: number, cols: number): Float64Array {
  return Float64Array.from({ length: rows }, (_, r) => (labels[r] < 0 || labels[r] >= cols ? 0 : refLogSumExp(x, r * cols, cols) - x[r * cols + labels[r]]));
}
function refSoftmax(x: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const lse = refLogSumExp(x, r * cols, cols);
    for (let c = 0; c < cols; c++) out[r * cols + c] = Math.exp(x[r * cols + c] - lse);
  }
  return out;
}
function refCrossEntropyGrad(x: ArrayLike<number>, labels: Int32Array, dloss: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const p = refSoftmax(x, rows, cols);
  for (let r = 0; r < rows; r++) {
    const ignored = labels[r] < 0 || labels[r] >= cols;
    for (let c = 0; c < cols; c++) p[r * cols + c] = ignored ? 0 : (p[r * cols + c] - (c === labels[r] ? 1 : 0)) * dloss[r];
  }
  return p;
}
function refLayerNorm(x: ArrayLike<number>, gamma: ArrayLike<number> | null, beta: ArrayLike<number> | null, rows: number, cols: number, eps: number) {
  const out = new Float64Array(rows * cols);
  const mean = new Float64Array(rows);
  const rstd = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let m = 0;
    for (let c = 0; c < cols; c++) m += x[r * cols + c];
    m /= cols;
    let v = 0;
    for (let c = 0; c < cols; c++) v += (x[r * cols + c] - m) ** 2;
    const rs = 1 / Math.sqrt(v / cols + eps);
    mean[r] = m;
    rstd[r] = rs;
    for (let c = 0; c < cols; c++) out[r * cols + c] = (x[r * cols + c] - m) * rs * (gamma ? gamma[c] : 1) + (beta ? beta[c] : 0);
  }
  return { out, mean, rstd };
}
/** erf in float64: 2/√π·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3···(2n+1)), all terms positive (no cancellation). */
function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax > 7) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum;
}
const K0 = Math.sqrt(2 / Math.PI);
function refGelu(x: number, approximate: boolean): number {
  return approximate ? 0.5 * x * (1 + Math.tanh(K0 * (x + 0.044715 * x ** 3))) : 0.5 * x * (1 + erf(x / Math.SQRT2));
}
function refGeluGrad(x: number, approximate: boolean): number {
  if (!approximate) return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-x * x / 2)) / Math.sqrt(2 * Math.PI);
  const t = Math.tanh(K0 * (x + 0.044715 * x ** 3));
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * K0 * (1 + 3 * 0.044715 * x * x);
}

/** Central difference of Σ weight·f(x) at x[i], in float64. */
function centralDiff(f: (x: Float64Array) => ArrayLike<number>, x: Float64Array, weight: ArrayLike<number>, i: number, h = 1e-5): number {
  const dot = (y: ArrayLike<number>): number => {
    let s = 0;
    for (let j = 0; j < y.length; j++) s += y[j] * weight[j];
    return s;
  };
  const saved = x[i];
  x[i] = saved + h;
  const plus = dot(f(x));
  x[i] = saved - h;
  const minus = dot(f(x));
  x[i] = saved;
  return (plus - minus) / (2 * h);
}

describe('softmax cross-entropy', () => {
  const SIZES: Array<[number, number]> = [[5, 1], [7, 3], [9, 17], [6, 768], [3, 50257], [40, 2049]];

  it('loss and gradient match float64, ignored labels give 0, on every ISA and thread count', () => {
    for (const [rows, cols] of SIZES) {
      const x = values(rows * cols, rows + cols, 8);
      const labels = labelsFor(rows, cols, cols);
      const dloss = values(rows, 3);
      const loss = new Float32Array(rows);
      const dx = new Float32Array(rows * cols);
      const refLoss = refCrossEntropy(x, labels, rows, cols);
      const refGrad = refCrossEntropyGrad(x, labels, dloss, rows, cols);
      let first: Float32Array | null = null;
      everyConfig((config) => {
        loss.fill(NaN);
        addon.softmaxCrossEntropy(x, labels, loss, rows, cols);
        expect({ config, rows, cols, err: worstRel(loss, refLoss) < 2e-6 }).toEqual({ config, rows, cols, err: true });
        for (let r = 0; r < rows; r++) if (labels[r] < 0 || labels[r] >= cols) expect(loss[r]).toBe(0);
        dx.fill(NaN);
        addon.softmaxCrossEntropyGrad(x, labels, dloss, dx, rows, cols);
        expect({ config, rows, cols, err: worstRel(dx, refGrad, 1) < 3e-7 }).toEqual({ config, rows, cols, err: true });
        if (first === null) first = loss.slice();
        if (config.startsWith(ISAS[0])) expect(loss).toEqual(first); // 1 and 2 threads: the same bytes
      });
    }
  });

  it('gradient equals central differences of the float64 loss', () => {
    const [rows, cols] = [4, 17];
    const x = values(rows * cols, 21, 3);
    const labels = Int32Array.of(3, -100, 16, 0);
    const dloss = values(rows, 22);
    const dx = new Float32Array(rows * cols);
    addon.softmaxCrossEntropyGrad(x, labels, dloss, dx, rows, cols);
    const x64 = Float64Array.from(x);
    for (let i = 0; i < x.length; i++) expect(Math.abs(dx[i] - centralDiff((v) => refCrossEntropy(v, labels, rows, cols), x64, dloss, i))).toBeLessThan(1e-6);
  });

  it('survives extreme logits and may write the gradient over the logits', () => {
    const x = Float32Array.of(1e30, -1e30, 0, 88, 89, -200);
    const loss = new Float32Array(2);
    addon.softmaxCrossEntropy(x, Int32Array.of(1, 0), loss, 2, 3);
    expect(loss[0]).toBeCloseTo(2e30, -25);
    expect(loss[1]).toBeCloseTo(Math.log(1 + Math.exp(-1)) + 1, 5);
    const y = values(3 * 5, 9, 4);
    const expected = new Float32Array(15);
    addon.softmaxCrossEntropyGrad(y, Int32Array.of(0, 4, 2), Float32Array.of(1, 2, 3), expected, 3, 5);
    addon.softmaxCrossEntropyGrad(y, Int32Array.of(0, 4, 2), Float32Array.of(1, 2, 3), y, 3, 5);
    expect(y).toEqual(expected);
  });
});

describe('softmax', () => {
  it('forward and backward match float64, and the backward equals central differences', () => {
    for (const [rows, cols] of [[3, 1], [5, 3], [7, 17], [4, 768], [2, 50257]] as Array<[number, number]>) {
      const x = values(rows * cols, cols, 6);
      const dy = values(rows * cols, cols + 1);
      const ref = refSoftmax(x, rows, cols);
      const y = new Float32Array(rows * cols);
      const dx = new Float32Array(rows * cols);
      const refDx = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        let s = 0;
        for (let c = 0; c < cols; c++) s += dy[r * cols + c] * ref[r * cols + c];
        for (let c = 0; c < cols; c++) refDx[r * cols + c] = ref[r * cols + c] * (dy[r * cols + c] - s);
      }
      everyConfig((config) => {
        addon.softmax(x, y, rows, cols);
        expect({ config, cols, err: worstRel(y, ref, 1e-30) < 2e-6 }).toEqual({ config, cols, err: true });
        addon.softmaxGrad(y, dy, dx, rows, cols);
        expect({ config, cols, err: worstRel(dx, refDx, 1) < 1e-6 }).toEqual({ config, cols, err: true });
      });
    }
    const [rows, cols] = [3, 11];
    const x = values(rows * cols, 5, 2);
    const dy = values(rows * cols, 6);
    const y = new Float32Array(rows * cols);
    const dx = new Float32Array(rows * cols);
    addon.softmax(x, y, rows, cols);
    addon.softmaxGrad(y, dy, dx, rows, cols);
    const x64 = Float64Array.from(x);
    for (let i = 0; i < x.length; i++) expect(Math.abs(dx[i] - centralDiff((v) => refSoftmax(v, rows, cols), x64, dy, i))).toBeLessThan(1e-6);
  });
});

describe('layerNorm', () => {
  function refGrad(dy: Float32Array, x: Float32Array, gamma: Float32Array | null, rows: number, cols: number, eps: number) {
    const { mean, rstd } = refLayerNorm(x, gamma, null, rows, cols, eps);
    const dx = new Float64Array(rows * cols);
    const dgamma = new Float64Array(cols);
    const dbeta = new Float64Array(cols);
    for (let r = 0; r < rows; r++) {
      let sg = 0;
      let sgx = 0;
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (x[i] - mean[r]) * rstd[r];
        const g = dy[i] * (gamma ? gamma[c] : 1);
        sg += g;
        sgx += g * xhat;
        dgamma[c] += dy[i] * xhat;
        dbeta[c] += dy[i];
      }
      for (let c = 0; c < cols; c++) {
        const i = r * cols + c;
        const xhat = (x[i] - mean[r]) * rstd[r];
        dx[i] = rstd[r] * (dy[i] * (gamma ? gamma[c] : 1) - sg / cols - (xhat * sgx) / cols);
      }
    }
    return { dx, dgamma, dbeta };
  }

  it('forward (mean, rstd written) and backward match float64, with and without gamma/beta', () => {
    const eps = 1e-5;
    for (const [rows, cols] of [[3, 1], [5, 3], [7, 17], [37, 768], [9, 3072], [70, 1030]] as Array<[number, number]>) {
      const x = values(rows * cols, cols, 3).map((v, i) => v + (i % cols === 0 ? 5 : 1)); // an offset mean
      const dy = values(rows * cols, cols + 2);
      for (const affine of [true, false]) {
        const gamma = affine ? values(cols, 7).map((v) => 1 + v) : null;
        const beta = affine ? values(cols, 8) : null;
        const ref = refLayerNorm(x, gamma, beta, rows, cols, eps);
        const g = refGrad(dy, x, gamma, rows, cols, eps);
        const out = new Float32Array(rows * cols);
        const mean = new Float32Array(rows);
        const rstd = new Float32Array(rows);
        const dx = new Float32Array(rows * cols);
        const dgamma = new Float32Array(cols).fill(7);
        const dbeta = new Float32Array(cols).fill(7);
        let firstDgamma: Float32Array | null = null;
        everyConfig((config) => {
          const where = { config, rows, cols, affine };
          addon.layerNorm(x, gamma, beta, out, mean, rstd, rows, cols, eps);
          expect({ ...where, out: worstRel(out, ref.out) < 3e-6, mean: worstRel(mean, ref.mean) < 1e-6, rstd: worstRel(rstd, ref.rstd, 0) < 1e-6 }).toEqual({
            ...where, out: true, mean: true, rstd: true,
          });
          addon.layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
          const scale = Math.sqrt(rows);
          expect({ ...where, dx: worstRel(dx, g.dx) < 1e-5, dgamma: worstRel(dgamma, g.dgamma, scale) < 2e-6, dbeta: worstRel(dbeta, g.dbeta, scale) < 1e-6 }).toEqual({
            ...where, dx: true, dgamma: true, dbeta: true,
          });
          if (firstDgamma === null) firstDgamma = dgamma.slice();
          if (config.startsWith(ISAS[0])) expect(dgamma).toEqual(firstDgamma);
        });
        // Null dgamma/dbeta: dx alone.
        addon.layerNormGrad(dy, x, gamma, mean, rstd, dx, null, null, rows, cols);
        expect(worstRel(dx, g.dx)).toBeLessThan(1e-5);
      }
    }
  });

  it('backward equals central differences of the float64 forward (dx, dgamma, dbeta)', () => {
    const [rows, cols, eps] = [3, 7, 1e-5];
    const x = values(rows * cols, 31, 2);
    const gamma = values(cols, 32).map((v) => 1 + v);
    const beta = values(cols, 33);
    const dy = values(rows * cols, 34);
    const out = new Float32Array(rows * cols);
    const mean = new Float32Array(rows);
    const rstd = new Float32Array(rows);
    const dx = new Float32Array(rows * cols);
    const dgamma = new Float32Array(cols);
    const dbeta = new Float32Array(cols);
    addon.layerNorm(x, gamma, beta, out, mean, rstd, rows, cols, eps);
    addon.layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta, rows, cols);
    const x64 = Float64Array.from(x);
    const g64 = Float64Array.from(gamma);
    const b64 = Float64Array.from(beta);
    for (let i = 0; i < x.length; i++) expect(Math.abs(dx[i] - centralDiff((v) => refLayerNorm(v, g64, b64, rows, cols, eps).out, x64, dy, i))).toBeLessThan(1e-5);
    for (let c = 0; c < cols; c++) {
      expect(Math.abs(dgamma[c] - centralDiff((v) => refLayerNorm(x64, v, b64, rows, cols, eps).out, g64, dy, c))).toBeLessThan(1e-5);
      expect(Math.abs(dbeta[c] - centralDiff((v) => refLayerNorm(x64, g64, v, rows, cols, eps).out, b64, dy, c))).toBeLessThan(1e-5);
    }
  });
});

describe('gelu', () => {
  // [-12, 12] plus points around 0 and the range ends; odd length.
  const x = Float32Array.from([...values(20001, 41, 12), 0, -0, 1e-6, -1e-6, 3.5, -3.5, 5.65, -5.65, 40, -40]);
  const dy = values(x.length, 42, 2);

  it.each([true, false])('approximate=%s: forward and gradient match float64 on every ISA and thread count', (approximate) => {
    const out = new Float32Array(x.length);
    const dx = new Float32Array(x.length);
    everyConfig((config) => {
      addon.gelu(x, out, approximate);
      addon.geluGrad(x, dy, dx, approximate);
      let worst = 0;
      let worstGrad = 0;
      for (let i = 0; i < x.length; i++) {
        const ref = refGelu(x[i], approximate);
        // erf within 2e-7 → |Δ| ≤ ½|x|·2e-7, plus float rounding of the result.
        worst = Math.max(worst, Math.abs(out[i] - ref) / (1e-7 * Math.abs(x[i]) + 2.4e-7 * Math.abs(ref) + 1e-30));
        worstGrad = Math.max(worstGrad, Math.abs(dx[i] - dy[i] * refGeluGrad(x[i], approximate)) / (1 + Math.abs(dy[i])));
      }
      expect({ config, forward: worst <= 1, grad: worstGrad < 1e-6 }).toEqual({ config, forward: true, grad: true });
    });
  });

  it('the exact form rests on an erf within 2e-7 of float64 erf', () => {
    // gelu(x)·2/x − 1 = erf(x/√2); at |x| ≤ 2 the division adds little.
    const xs = Float32Array.from({ length: 4001 }, (_, i) => -2 + i / 1000).filter((v) => Math.abs(v) > 0.05);
    const out = new Float32Array(xs.length);
    addon.gelu(xs, out, false);
    let worst = 0;
    for (let i = 0; i < xs.length; i++) worst = Math.max(worst, Math.abs((2 * out[i]) / xs[i] - 1 - erf(xs[i] / Math.SQRT2)));
    expect(worst).toBeLessThan(3e-7);
  });

  it.each([true, false])('approximate=%s: gradient equals central differences of the float64 forward', (approximate) => {
    const xs = Float32Array.from([-6, -3, -1.5, -0.3, 0, 0.2, 0.9, 2.5, 4, 7]);
    const dx = new Float32Array(xs.length);
    addon.geluGrad(xs, new Float32Array(xs.length).fill(1), dx, approximate);
    for (let i = 0; i < xs.length; i++) {
      const fd = (refGelu(xs[i] + 1e-5, approximate) - refGelu(xs[i] - 1e-5, approximate)) / 2e-5;
      expect(Math.abs(dx[i] - fd)).toBeLessThan(1e-6);
    }
  });
});

describe('adamw', () => {
  /** packages/train's AdamW op by op in float32, as tfjs computes it. */
  function jsAdamW(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number, b1: number, b2: number, eps: number, wd: number, t: number): void {
    const f = Math.fround;
    const decay = f(1 - lr * wd);
    const stepSize = f(lr / (1 - b1 ** t));
    const root = f(Math.sqrt(1 - b2 ** t));
    for (let i = 0; i < p.length; i++) {
      m[i] = f(f(m[i] * f(b1)) + f(g[i] * f(1 - b1)));
      v[i] = f(f(v[i] * f(b2)) + f(f(g[i] * g[i]) * f(1 - b2)));
      const denom = f(f(f(Math.sqrt(v[i])) / root) + f(eps));
      p[i] = f(f(p[i] * decay) - f(f(m[i] / denom) * stepSize));
    }
  }

  it('equals the float32 op sequence of @leantune/train AdamW over steps, on every ISA and thread count', () => {
    const n = 70001;
    const [lr, b1, b2, eps, wd] = [3e-4, 0.9, 0.999, 1e-8, 0.01];
    everyConfig((config) => {
      const p = values(n, 51);
      const m = new Float32Array(n);
      const v = new Float32Array(n);
      const [pr, mr, vr] = [p.slice(), m.slice(), v.slice()];
      for (let t = 1; t <= 3; t++) {
        const g = values(n, 52 + t, 0.1);
        addon.adamw(p, g, m, v, lr, b1, b2, eps, wd, 1 - b1 ** t, 1 - b2 ** t);
        jsAdamW(pr, g, mr, vr, lr, b1, b2, eps, wd, t);
      }
      expect({ config, p: worstRel(p, pr, 0), m: worstRel(m, mr, 1e-30), v: worstRel(v, vr, 1e-30) }).toEqual({ config, p: 0, m: 0, v: 0 });
    });
  });

  it('matches the AdamW class of @leantune/train (cpu backend) to 1e-6 relative', async () => {
    await initBackend({ backend: 'cpu' });
    const n = 257;
    const init = values(n, 61);
    const param = tf.variable(tf.tensor1d(init), true, 'w');
    const opt = new AdamW(new Map([['w', param]]), { betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    const p = init.slice();
    const m = new Float32Array(n);
    const v = new Float32Array(n);
    for (let t = 1; t <= 4; t++) {
      const g = values(n, 62 + t, 0.5);
      const grad = tf.tensor1d(g);
      opt.step(new Map([['w', grad]]), 1e-3);
      grad.dispose();
      addon.adamw(p, g, m, v, 1e-3, 0.9, 0.95, 1e-8, 0.1, 1 - 0.9 ** t, 1 - 0.95 ** t);
    }
    expect(worstRel(p, param.dataSync(), 1e-3)).toBeLessThan(1e-6);
    param.dispose();
  });
});

describe('random fills', () => {
  const n = 1_000_001;

  it('fillUniform: bounds, mean, variance; deterministic per (seed, index), same on 1 and 2 threads', () => {
    const outs: Float32Array[] = [];
    everyConfig(() => {
      const out = new Float32Array(n);
      addon.fillUniform(out, 7, 0xdeadbeef, -2, 3);
      outs.push(out);
    });
    for (const o of outs.slice(1)) expect(Buffer.from(o.buffer).equals(Buffer.from(outs[0].buffer))).toBe(true);
    const out = outs[0];
    let [sum, sq, min, max] = [0, 0, Infinity, -Infinity];
    for (const x of out) {
      sum += x;
      sq += x * x;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    const mean = sum / n;
    const variance = sq / n - mean * mean;
    expect(Math.abs(mean - 0.5)).toBeLessThan((5 * 5) / Math.sqrt(12 * n)); // 5σ
    expect(Math.abs(variance - 25 / 12) / (25 / 12)).toBeLessThan(0.01);
    expect(min).toBeGreaterThanOrEqual(-2);
    expect(min).toBeLessThan(-1.999);
    expect(max).toBeLessThan(3);
    expect(max).toBeGreaterThan(2.999);
    // A prefix is the fill of a shorter array; another seed differs everywhere but by chance.
    const short = new Float32Array(1001);
    addon.fillUniform(short, 7, 0xdeadbeef, -2, 3);
    expect(short).toEqual(out.subarray(0, 1001));
    const other = new Float32Array(1001);
    addon.fillUniform(other, 7, 0xdeadbeee, -2, 3);
    expect(other.filter((x, i) => x === short[i]).length).toBeLessThan(3);
    // Rounding never reaches high: one float wide → all low; low = high → all low.
    addon.fillUniform(other, 1, 2, 1, Math.fround(1 + 2 ** -23));
    expect(other.every((x) => x === 1)).toBe(true);
    addon.fillUniform(other, 1, 2, 2, 2);
    expect(other.every((x) => x === 2)).toBe(true);
  });

  it('fillNormal: mean, std, tails; deterministic per (seed, index), same on 1 and 2 threads', () => {
    const outs: Float32Array[] = [];
    everyConfig(() => {
      const out = new Float32Array(n);
      addon.fillNormal(out, 0, 42, 1.5, 0.02);
      outs.push(out);
    });
    for (const o of outs.slice(1)) expect(Buffer.from(o.buffer).equals(Buffer.from(outs[0].buffer))).toBe(true);
    const z = Array.from(outs[0], (x) => (x - 1.5) / 0.02);
    let [sum, sq, within1, beyond3, min, max] = [0, 0, 0, 0, Infinity, -Infinity];
    for (const x of z) {
      sum += x;
      sq += x * x;
      if (Math.abs(x) < 1) within1++;
      if (Math.abs(x) > 3) beyond3++;
      min = Math.min(min, x);
      max = Math.max(max, x);
    }
    expect(Math.abs(sum / n)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(Math.sqrt(sq / n) - 1)).toBeLessThan(0.005);
    expect(Math.abs(within1 / n - 0.682689)).toBeLessThan(0.003);
    expect(Math.abs(beyond3 / n - 0.0026998)).toBeLessThan(0.0003);
    expect(min).toBeLessThan(-4);
    expect(max).toBeGreaterThan(4);
    expect(Math.max(-min, max)).toBeLessThan(6.5);
    const short = new Float32Array(999);
    addon.fillNormal(short, 0, 42, 1.5, 0.02);
    expect(short).toEqual(outs[0].subarray(0, 999));
    const other = new Float32Array(999);
    addon.fillNormal(other, 1, 42, 1.5, 0.02);
    expect(other.filter((x, i) => x === short[i]).length).toBeLessThan(3);
  });
});

describe('argument checks', () => {
  const f = (n: number): Float32Array => new Float32Array(n);
  const a = addon as unknown as Record<string, (...args: unknown[]) => void>;

  it.each([
    ['softmaxCrossEntropy', [f(6), new Int32Array(2), f(2), 2, 4], 'softmaxCrossEntropy: logits must hold rows·cols = 8 values, got 6'],
    ['softmaxCrossEntropy', [f(8), new Int32Array(3), f(2), 2, 4], 'softmaxCrossEntropy: labels must hold rows = 2 values, got 3'],
    ['softmaxCrossEntropy', [f(8), f(2), f(2), 2, 4], 'softmaxCrossEntropy: labels must be a Int32Array'],
    ['softmaxCrossEntropy', [f(8), new Int32Array(2), f(1), 2, 4], 'softmaxCrossEntropy: loss must hold rows = 2 values, got 1'],
    ['softmaxCrossEntropy', [f(8), new Int32Array(2), f(2), 2], 'softmaxCrossEntropy: expected 5 arguments (logits, labels, loss, rows, cols), got 4'],
    ['softmaxCrossEntropy', [f(8), new Int32Array(2), f(2), -2, 4], 'softmaxCrossEntropy: rows must be an integer >= 0'],
    ['softmaxCrossEntropy', [f(8), new Int32Array(2), f(2), 2, 4.5], 'softmaxCrossEntropy: cols must be an integer >= 0'],
    ['softmaxCrossEntropyGrad', [f(8), new Int32Array(2), f(2), f(7), 2, 4], 'softmaxCrossEntropyGrad: dlogits must hold rows·cols = 8 values, got 7'],
    ['softmaxCrossEntropyGrad', [f(8), new Int32Array(2), f(3), f(8), 2, 4], 'softmaxCrossEntropyGrad: dloss must hold rows = 2 values, got 3'],
    ['softmax', [f(8), f(9), 2, 4], 'softmax: out must hold rows·cols = 8 values, got 9'],
    ['softmaxGrad', [f(8), f(8), f(8), '2', 4], 'softmaxGrad: rows must be a number'],
    ['layerNorm', [f(8), f(3), null, f(8), f(2), f(2), 2, 4, 1e-5], 'layerNorm: gamma must hold cols = 4 values, got 3'],
    ['layerNorm', [f(8), null, null, f(8), f(2), f(1), 2, 4, 1e-5], 'layerNorm: rstd must hold rows = 2 values, got 1'],
    ['layerNorm', [f(8), null, null, f(8), f(2), f(2), 2, 4, -1], 'layerNorm: eps must be >= 0'],
    ['layerNormGrad', [f(8), f(8), null, f(2), f(2), f(8), f(5), null, 2, 4], 'layerNormGrad: dgamma must hold cols = 4 values, got 5'],
    ['gelu', [f(8), f(7), true], 'gelu: out must hold x.length = 8 values, got 7'],
    ['geluGrad', [f(8), f(8), [1], false], 'geluGrad: dx must be a Float32Array'],
    ['gelu', [f(8), f(8), 1], 'gelu: approximate must be a boolean'],
    ['adamw', [f(4), f(4), f(3), f(4), 1e-3, 0.9, 0.999, 1e-8, 0, 0.1, 0.001], 'adamw: m must hold param.length = 4 values, got 3'],
    ['adamw', [f(4), f(4), f(4), f(4), 1e-3, 0.9, 0.999, 1e-8, 0, 0, 0.001], 'adamw: biasCorrection1 (1 - beta1^t) must be in (0, 1]'],
    ['fillUniform', [f(4), 2 ** 32, 0, 0, 1], 'fillUniform: seedHi and seedLo must be uint32 values'],
    ['fillUniform', [f(4), 0, 0, 1, 0], 'fillUniform: low must be <= high'],
    ['fillNormal', [f(4), 0, 0, 0, -1], 'fillNormal: std must be >= 0'],
  ])('%s rejects bad arguments with a message naming them (%#)', (name, args, message) => {
    expect(() => a[name](...(args as unknown[]))).toThrow(message);
  });

  it('layerNormGrad refuses a dx that is dy or x', () => {
    const dy = f(8);
    expect(() => addon.layerNormGrad(dy, f(8), null, f(2), f(2), dy, null, null, 2, 4)).toThrow('layerNormGrad: dx must not share memory with dy or x');
  });

  it('works on views into any ArrayBuffer, and on zero rows', () => {
    const shared = new Float32Array(new SharedArrayBuffer(4 * 10));
    shared.set([1, 2, 3, 4, 5, 6], 2);
    const out = new Float32Array(new ArrayBuffer(4 * 8), 8, 6);
    addon.softmax(shared.subarray(2, 8), out, 2, 3);
    expect(worstRel(out, refSoftmax([1, 2, 3, 4, 5, 6], 2, 3))).toBeLessThan(1e-6);
    addon.softmaxCrossEntropy(f(0), new Int32Array(0), f(0), 0, 5);
    const dgamma = f(3).fill(9);
    addon.layerNormGrad(f(0), f(0), null, f(0), f(0), f(0), dgamma, null, 0, 3);
    expect(Array.from(dgamma)).toEqual([0, 0, 0]);
  });
});
