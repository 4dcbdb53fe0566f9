import * as tf from '@tensorflow/tfjs-core';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from '../safetensors/half';

/**
 * Frozen base weights stored in a smaller format (QLoRA on a CPU, `model.quantize`).
 *
 * - `bf16`, `fp16`: the float32 value rounded to nearest even (2 bytes a weight).
 * - `int8`: per-output-channel absmax: each row of the [out, in] matrix has scale
 *   max|w|/127 and codes round(w/scale) in [-127, 127] (1 byte a weight + 4 bytes a row).
 * - `nf4`: the QLoRA paper's 4-bit NormalFloat (Dettmers et al. 2023, bitsandbytes'
 *   code book): the matrix flattened row-major is cut in blocks of 64; each block keeps
 *   its absmax and each weight the index of the nearest of 16 code values times absmax
 *   (two codes a byte, the even element in the high nibble as bitsandbytes packs them).
 *   Double quantization (the paper's §3): the block absmaxes, minus their mean, are
 *   quantized again in groups of 256. The paper uses 8-bit floats there; we use 8-bit
 *   symmetric integers with one float32 scale a group (same 8 + 32/256 bits a block, so the
 *   same 0.127 bits a parameter of constants instead of 0.5).
 *
 * The stored matrix is always [out, in] (rows = output channels): a Conv1D weight, which
 * GPT-2 keeps as [in, out], is transposed at quantization (`sourceLayout: 'in-out'`) so the
 * kernels have one layout, y = x·Wᵀ and dx = dy·W, and per-channel scales are per row.
 */
export type QuantFormat = 'bf16' | 'fp16' | 'int8' | 'nf4';

export const QUANT_FORMATS: readonly QuantFormat[] = ['bf16', 'fp16', 'int8', 'nf4'];

export interface QuantizeSpec {
  type: QuantFormat;
  /** nf4 only: quantize the block absmaxes again (8-bit, groups of 256). Default false. */
  doubleQuant?: boolean;
}

/** The module's layout of the weight: Linear's [out, in] or Conv1D's [in, out]. */
export type WeightLayout = 'out-in' | 'in-out';

/** bitsandbytes' NF4 code book (csrc/kernels.cu), ascending; index 7 is exactly 0. */
export const NF4_CODE = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
  0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]);

/** Weights per NF4 block (QLoRA's 64). */
export const NF4_BLOCK = 64;
/** Block absmaxes per double-quantization group (QLoRA's 256). */
export const DOUBLE_QUANT_GROUP = 256;

/** Midpoints between neighbouring code values: a value's code is the number of midpoints below it. */
const NF4_MIDPOINTS = Float32Array.from({ length: 15 }, (_, i) => (NF4_CODE[i] + NF4_CODE[i + 1]) / 2);

function nf4Index(normalized: number): number {
  let lo = 0;
  let hi = 15;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (normalized > NF4_MIDPOINTS[mid]) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** NF4 block constants after double quantization: absmax ≈ codes[b]·groupScales[b/256] + offset. */
export interface DoubleQuantized {
  codes: Int8Array;
  groupScales: Float32Array;
  offset: number;
}

export interface QuantizedWeightParts {
  format: QuantFormat;
  rows: number;
  cols: number;
  sourceLayout: WeightLayout;
  /** bf16/fp16: Uint16Array bit patterns; int8: Int8Array codes; nf4: Uint8Array, two codes a byte. */
  data: Uint16Array | Int8Array | Uint8Array;
  /** int8: one scale a row; nf4 without double quantization: one absmax a block of 64. */
  scales?: Float32Array;
  /** nf4 with double quantization. */
  doubleQuant?: DoubleQuantized;
}

/** A frozen [out, in] weight matrix in one of the QuantFormats; see the file comment. */
export class QuantizedWeight implements QuantizedWeightParts {
  readonly format: QuantFormat;
  readonly rows: number;
  readonly cols: number;
  readonly sourceLayout: WeightLayout;
  readonly data: Uint16Array | Int8Array | Uint8Array;
  readonly scales?: Float32Array;
  readonly doubleQuant?: DoubleQuantized;

  constructor(parts: QuantizedWeightParts) {
    this.format = parts.format;
    this.rows = parts.rows;
    this.cols = parts.cols;
    this.sourceLayout = parts.sourceLayout;
    this.data = parts.data;
    this.scales = parts.scales;
    this.doubleQuant = parts.doubleQuant;
  }

  /** The module's shape of the weight ([out, in] for Linear, [in, out] for Conv1D). */
  get shape(): [number, number] {
    return this.sourceLayout === 'out-in' ? [this.rows, this.cols] : [this.cols, this.rows];
  }

  get size(): number {
    return this.rows * this.cols;
  }

  /** Bytes held: codes plus every scale and constant. */
  get bytes(): number {
    let n = this.data.byteLength + (this.scales?.byteLength ?? 0);
    if (this.doubleQuant) n += this.doubleQuant.codes.byteLength + this.doubleQuant.groupScales.byteLength + 4;
    return n;
  }

  /** NF4 block absmaxes (decoded from the double quantization when there is one). */
  blockAbsmax(): Float32Array {
    if (this.format !== 'nf4') throw new Error(`blockAbsmax: a ${this.format} weight has no blocks`);
    if (this.scales) return this.scales;
    const dq = this.doubleQuant!;
    const out = new Float32Array(dq.codes.length);
    for (let b = 0; b < out.length; b++) out[b] = dq.codes[b] * dq.groupScales[Math.floor(b / DOUBLE_QUANT_GROUP)] + dq.offset;
    return out;
  }

  /** The fp32 values of the stored [out, in] matrix (a fresh array). */
  dequantize(): Float32Array {
    const n = this.size;
    switch (this.format) {
      case 'bf16':
        return decodeBfloat16(this.data as Uint16Array);
      case 'fp16':
        return decodeFloat16(this.data as Uint16Array);
      case 'int8': {
        const codes = this.data as Int8Array;
        const scales = this.scales!;
        const out = new Float32Array(n);
        for (let r = 0; r < this.rows; r++) {
          const s = scales[r];
          const base = r * this.cols;
          for (let c = 0; c < this.cols; c++) out[base + c] = codes[base + c] * s;
        }
        return out;
      }
      case 'nf4': {
        const packed = this.data as Uint8Array;
        const absmax = this.blockAbsmax();
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const byte = packed[i >> 1];
          const code = i & 1 ? byte & 0x0f : byte >> 4;
          out[i] = NF4_CODE[code] * absmax[Math.floor(i / NF4_BLOCK)];
        }
        return out;
      }
    }
  }

  /** The fp32 weight as a tensor in the module's layout (a fresh tensor: the caller disposes it, or runs this in tf.tidy). */
  toTensor(): tf.Tensor2D {
    const values = tf.tensor2d(this.dequantize(), [this.rows, this.cols]);
    if (this.sourceLayout === 'out-in') return values;
    const t = tf.transpose(values) as tf.Tensor2D;
    values.dispose();
    return t;
  }

  /** A copy sharing nothing with this one. */
  clone(): QuantizedWeight {
    return new QuantizedWeight({
      format: this.format,
      rows: this.rows,
      cols: this.cols,
      sourceLayout: this.sourceLayout,
      data: this.data.slice(),
      scales: this.scales?.slice(),
      doubleQuant: this.doubleQuant && { codes: this.doubleQuant.codes.slice(), groupScales: this.doubleQuant.groupScales.slice(), offset: this.doubleQuant.offset },
    });
  }
}

/** Bytes a [rows, cols] weight takes in `spec`'s format: codes plus scales (what QuantizedWeight.bytes reports). */
export function quantizedBytes(rows: number, cols: number, spec: QuantizeSpec): number {
  const n = rows * cols;
  switch (spec.type) {
    case 'bf16':
    case 'fp16':
      return 2 * n;
    case 'int8':
      return n + 4 * rows;
    case 'nf4': {
      const blocks = Math.ceil(n / NF4_BLOCK);
      return Math.ceil(n / 2) + (spec.doubleQuant ? blocks + 4 * Math.ceil(blocks / DOUBLE_QUANT_GROUP) + 4 : 4 * blocks);
    }
  }
}

/** Checks and normalizes a `model.quantize` value ("nf4" or { type: "nf4", doubleQuant: true }); `where` names the field in errors. */
export function parseQuantizeSpec(value: unknown, where = 'model.quantize'): QuantizeSpec {
  const field = (name: string) => (where.startsWith('/') ? `${where}/${name}` : `${where}.${name}`);
  const spec = typeof value === 'string' ? { type: value } : value;
  if (spec == null || typeof spec !== 'object' || Array.isArray(spec)) {
    throw new Error(`${where}: expected one of ${QUANT_FORMATS.map((f) => `"${f}"`).join(', ')} or { "type": "nf4", "doubleQuant": true }, got ${JSON.stringify(value)}`);
  }
  const { type, doubleQuant, ...rest } = spec as Record<string, unknown>;
  if (!QUANT_FORMATS.includes(type as QuantFormat)) {
    throw new Error(`${field('type')}: "${String(type)}" is not a format; use one of ${QUANT_FORMATS.join(', ')}`);
  }
  const extra = Object.keys(rest);
  if (extra.length) throw new Error(`${where}: unknown field${extra.length > 1 ? 's' : ''} ${extra.join(', ')} (allowed: type, doubleQuant)`);
  if (doubleQuant !== undefined && typeof doubleQuant !== 'boolean') throw new Error(`${field('doubleQuant')}: expected true or false, got ${JSON.stringify(doubleQuant)}`);
  if (doubleQuant && type !== 'nf4') throw new Error(`${field('doubleQuant')}: double quantization applies to nf4 block scales only (type is "${String(type)}"); remove it or use type "nf4"`);
  return { type: type as QuantFormat, doubleQuant: doubleQuant === true };
}

function quantizeInt8(values: Float32Array, rows: number, cols: number): { data: Int8Array; scales: Float32Array } {
  const data = new Int8Array(rows * cols);
  const scales = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let absmax = 0;
    for (let c = 0; c < cols; c++) absmax = Math.max(absmax, Math.abs(values[base + c]));
    const scale = absmax / 127;
    scales[r] = scale;
    if (scale === 0) continue;
    const inv = 1 / scale;
    for (let c = 0; c < cols; c++) data[base + c] = Math.max(-127, Math.min(127, Math.round(values[base + c] * inv)));
  }
  return { data, scales };
}

function quantizeNf4(values: Float32Array): { data: Uint8Array; absmax: Float32Array } {
  const n = values.length;
  const blocks = Math.ceil(n / NF4_BLOCK);
  const absmax = new Float32Array(blocks);
  const data = new Uint8Array(Math.ceil(n / 2));
  for (let b = 0; b < blocks; b++) {
    const end = Math.min(n, (b + 1) * NF4_BLOCK);
    let m = 0;
    for (let i = b * NF4_BLOCK; i < end; i++) m = Math.max(m, Math.abs(values[i]));
    absmax[b] = m;
    const inv = m === 0 ? 0 : 1 / m;
    for (let i = b * NF4_BLOCK; i < end; i++) {
      const code = nf4Index(values[i] * inv);
      data[i >> 1] |= i & 1 ? code : code << 4;
    }
  }
  return { data, absmax };
}

/** The second-level quantization of NF4 block absmaxes (see the file comment). */
export function doubleQuantize(absmax: Float32Array): DoubleQuantized {
  let sum = 0;
  for (const a of absmax) sum += a;
  const offset = Math.fround(absmax.length ? sum / absmax.length : 0);
  const groups = Math.ceil(absmax.length / DOUBLE_QUANT_GROUP);
  const codes = new Int8Array(absmax.length);
  const groupScales = new Float32Array(groups);
  for (let g = 0; g < groups; g++) {
    const end = Math.min(absmax.length, (g + 1) * DOUBLE_QUANT_GROUP);
    let m = 0;
    for (let b = g * DOUBLE_QUANT_GROUP; b < end; b++) m = Math.max(m, Math.abs(absmax[b] - offset));
    const scale = m / 127;
    groupScales[g] = scale;
    if (scale === 0) continue;
    for (let b = g * DOUBLE_QUANT_GROUP; b < end; b++) codes[b] = Math.max(-127, Math.min(127, Math.round((absmax[b] - offset) / scale)));
  }
  return { codes, groupScales, offset };
}

/**
 * Quantizes an fp32 [out, in] matrix (`values` row-major, `rows` output channels).
 * `sourceLayout` only records how the module holds the weight; the values must already be
 * [out, in] (quantizeWeight transposes a Conv1D weight first).
 */
export function quantizeMatrix(values: Float32Array, rows: number, cols: number, spec: QuantizeSpec, sourceLayout: WeightLayout = 'out-in'): QuantizedWeight {
  if (values.length !== rows * cols) throw new Error(`quantizeMatrix: ${values.length} values for a ${rows}×${cols} matrix`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) throw new Error(`quantizeMatrix: element ${i} (row ${Math.floor(i / cols)}) is ${values[i]}; a weight to quantize must be finite`);
  }
  const base = { format: spec.type, rows, cols, sourceLayout };
  switch (spec.type) {
    case 'bf16':
      return new QuantizedWeight({ ...base, data: encodeBfloat16(values) });
    case 'fp16':
      return new QuantizedWeight({ ...base, data: encodeFloat16(values) });
    case 'int8':
      return new QuantizedWeight({ ...base, ...quantizeInt8(values, rows, cols) });
    case 'nf4': {
      const { data, absmax } = quantizeNf4(values);
      return new QuantizedWeight(spec.doubleQuant ? { ...base, data, doubleQuant: doubleQuantize(absmax) } : { ...base, data, scales: absmax });
    }
  }
}

/** Quantizes a 2-D weight tensor held in `layout` (Conv1D's [in, out] is transposed to [out, in] first). */
export function quantizeWeight(weight: tf.Tensor, spec: QuantizeSpec, layout: WeightLayout = 'out-in'): QuantizedWeight {
  if (weight.rank !== 2) throw new Error(`quantizeWeight: expected a 2-D weight, got shape [${weight.shape}]`);
  if (weight.dtype !== 'float32') throw new Error(`quantizeWeight: expected a float32 weight, got ${weight.dtype}`);
  const outIn = layout === 'out-in' ? weight : tf.transpose(weight);
  try {
    const [rows, cols] = outIn.shape as [number, number];
    return quantizeMatrix(outIn.dataSync() as Float32Array, rows, cols, spec, layout);
  } finally {
    if (outIn !== weight) outIn.dispose();
  }
}
