/**
 * A plain-JS reference for the tiny checkpoints: its own safetensors reader and its own
 * matrix code (no tfjs, nothing from src/), written from the transformers formulas, so
 * the loaders are checked against an independent computation.
 */
import fs from 'node:fs';

export interface Raw { shape: number[]; data: Float32Array }
export type Weights = Map<string, Raw>;

/** Header: u64 little-endian length, JSON; data: F32 (or BF16) little-endian at the given offsets. */
export function readF32Safetensors(file: string): Weights {
  const bytes = fs.readFileSync(file);
  const n = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>;
  const out: Weights = new Map();
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (info.dtype !== 'F32' && info.dtype !== 'BF16') throw new Error(`reference reader: ${name} is ${info.dtype}`);
    const [a, b] = info.data_offsets;
    const slice = bytes.subarray(8 + n + a, 8 + n + b);
    const bf16 = info.dtype === 'BF16';
    const data = new Float32Array(slice.length / (bf16 ? 2 : 4));
    // BF16 is the high half of an F32: the same bits with 16 zero bits below.
    const wide = Buffer.alloc(4);
    for (let i = 0; i < data.length; i++) {
      if (!bf16) data[i] = slice.readFloatLE(i * 4);
      else {
        wide.writeUInt32LE(slice.readUInt16LE(i * 2) << 16 >>> 0);
        data[i] = wide.readFloatLE(0);
      }
    }
    out.set(name, { shape: info.shape, data });
  }
  return out;
}

/** Row-major matrix [rows][cols] as nested arrays: slow and obvious on purpose. */
export type M = number[][];

export function w(weights: Weights, name: string): Raw {
  const t = weights.get(name);
  if (!t) throw new Error(`reference: no ${name}`);
  return t;
}

export function vec(weights: Weights, name: string): number[] {
  return Array.from(w(weights, name).data);
}

/** y = x·Wᵀ + b with W [out, in] (nn.Linear). */
export function linear(x: M, weights: Weights, name: string, bias = true): M {
  const W = w(weights, `${name}.weight`);
  const [out, inp] = W.shape;
  const b = bias ? vec(weights, `${name}.bias`) : new Array<number>(out).fill(0);
  return x.map((row) => {
    const y = new Array<number>(out);
    for (let o = 0; o < out; o++) {
      let s = b[o];
      for (let i = 0; i < inp; i++) s += row[i] * W.data[o * inp + i];
      y[o] = s;
    }
    return y;
  });
}

/** y = x·W + b with W [in, out] (GPT-2's Conv1D). */
export function conv1d(x: M, weights: Weights, name: string): M {
  const W = w(weights, `${name}.weight`);
  const [inp, out] = W.shape;
  const b = vec(weights, `${name}.bias`);
  return x.map((row) => {
    const y = b.slice();
    for (let i = 0; i < inp; i++) for (let o = 0; o < out; o++) y[o] += row[i] * W.data[i * out + o];
    return y;
  });
}

export function layerNorm(x: M, weights: Weights, name: string, eps: number): M {
  const g = vec(weights, `${name}.weight`);
  const b = vec(weights, `${name}.bias`);
  return x.map((row) => {
    const mean = row.reduce((a, v) => a + v, 0) / row.length;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / row.length;
    return row.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * g[i] + b[i]);
  });
}

export const add = (a: M, b: M): M => a.map((row, i) => row.map((v, j) => v + b[i][j]));
export const map = (a: M, f: (v: number) => number): M => a.map((row) => row.map(f));

/** erf by Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}
export const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
export const geluNew = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
export const quickGelu = (v: number) => v / (1 + Math.exp(-1.702 * v));

export function softmax(row: number[]): number[] {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / s);
}

/** Multi-head attention of projected q, k, v [s, d]; `visible(i, j)` says query i may see key j. */
export function attention(q: M, k: M, v: M, heads: number, visible: (i: number, j: number) => boolean): M {
  const s = q.length;
  const d = q[0].length;
  const hd = d / heads;
  const out: M = Array.from({ length: s }, () => new Array<number>(d).fill(0));
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < s; i++) {
      const keys: number[] = [];
      const idx: number[] = [];
      for (let j = 0; j < s; j++) {
        if (!visible(i, j)) continue;
        let dot = 0;
        for (let c = 0; c < hd; c++) dot += q[i][h * hd + c] * k[j][h * hd + c];
        keys.push(dot / Math.sqrt(hd));
        idx.push(j);
      }
      const p = softmax(keys);
      for (let c = 0; c < hd; c++) out[i][h * hd + c] = idx.reduce((a, j, n) => a + p[n] * v[j][h * hd + c], 0);
    }
  }
  return out;
}

export function embed(weights: Weights, name: string, ids: number[]): M {
  const W = w(weights, name);
  const dim = W.shape[W.shape.length - 1];
  return ids.map((id) => Array.from(W.data.subarray(id * dim, (id + 1) * dim)));
}

/** Patch conv (kernel = stride = p) over CHW pixels, patches row-major: [patches, out]. */
export function patchEmbed(pixels: number[][][], weights: Weights, name: string, bias: boolean): M {
  const W = w(weights, `${name}.weight`);
  const [out, C, p] = W.shape;
  const H = pixels[0].length;
  const Wd = pixels[0][0].length;
  const b = bias ? vec(weights, `${name}.bias`) : new Array<number>(out).fill(0);
  const rows: M = [];
  for (let gy = 0; gy < H / p; gy++) {
    for (let gx = 0; gx < Wd / p; gx++) {
      const y = b.slice();
      for (let o = 0; o < out; o++) {
        for (let c = 0; c < C; c++) for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) {
          y[o] += W.data[((o * C + c) * p + i) * p + j] * pixels[c][gy * p + i][gx * p + j];
        }
      }
      rows.push(y);
    }
  }
  return rows;
}

/** HWC bytes → CHW floats, (x/255 - mean)/std, as the image processors do. */
export function normalizePixels(bytes: Uint8Array, h: number, wd: number, mean: number[], std: number[]): number[][][] {
  return [0, 1, 2].map((c) =>
    Array.from({ length: h }, (_, y) => Array.from({ length: wd }, (_, x) => (bytes[(y * wd + x) * 3 + c] / 255 - mean[c]) / std[c])),
  );
}
