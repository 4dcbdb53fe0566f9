import { fromHalfArray, toHalfArray } from './half';

export const QUANTIZE_MODES = ['none', 'fp16', 'uint8'] as const;
export type QuantizeMode = (typeof QUANTIZE_MODES)[number];

/** Typed arrays a pack stores; the names are what the shard header records. */
export const ARRAY_TYPES = {
  uint8: Uint8Array,
  int8: Int8Array,
  uint16: Uint16Array,
  int16: Int16Array,
  uint32: Uint32Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
} as const;
export type ArrayDtype = keyof typeof ARRAY_TYPES;
export type StoredArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array;

export function dtypeOf(array: ArrayBufferView): ArrayDtype | undefined {
  for (const [name, ctor] of Object.entries(ARRAY_TYPES)) if (array instanceof ctor) return name as ArrayDtype;
  return undefined;
}

/** How one array sits in a shard: its original dtype, how it is stored, and the dequantisation. */
export interface BlobInfo {
  dtype: ArrayDtype;
  /** 'raw' (bytes as they were), 'fp16' (half bit patterns), 'uint8' (affine: min + q·(max-min)/255). */
  stored: 'raw' | 'fp16' | 'uint8';
  length: number;
  offset: number;
  bytes: number;
  min?: number;
  max?: number;
}

export interface Encoded {
  info: Omit<BlobInfo, 'offset'>;
  bytes: Uint8Array;
  /** Largest |x - decoded(x)| over the array (0 when stored raw). */
  maxAbsError: number;
}

const asBytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/**
 * Stores a float array in the requested precision; integer arrays (uint8 images, token
 * ids) are always stored as they are, since quantising them would only lose information.
 */
export function encodeArray(array: StoredArray, mode: QuantizeMode): Encoded {
  const dtype = dtypeOf(array)!;
  const isFloat = dtype === 'float32' || dtype === 'float64';
  if (!isFloat || mode === 'none') return { info: { dtype, stored: 'raw', length: array.length, bytes: array.byteLength }, bytes: asBytes(array), maxAbsError: 0 };
  let info: Omit<BlobInfo, 'offset'>;
  let bytes: Uint8Array;
  if (mode === 'fp16') {
    const half = toHalfArray(array);
    bytes = asBytes(half);
    info = { dtype, stored: 'fp16', length: array.length, bytes: half.byteLength };
  } else {
    let min = Infinity;
    let max = -Infinity;
    for (const v of array) {
      if (!Number.isFinite(v)) throw new Error(`uint8 quantisation needs finite values (found ${v}); use fp16 or none for this dataset`);
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (array.length === 0) min = max = 0;
    const span = max - min;
    const q = new Uint8Array(array.length);
    for (let i = 0; i < array.length; i++) q[i] = span === 0 ? 0 : Math.round(((array[i] - min) / span) * 255);
    bytes = q;
    info = { dtype, stored: 'uint8', length: array.length, bytes: q.byteLength, min, max };
  }
  const decoded = decodeArray({ ...info, offset: 0 }, bytes);
  let maxAbsError = 0;
  for (let i = 0; i < array.length; i++) maxAbsError = Math.max(maxAbsError, Math.abs(array[i] - decoded[i]));
  return { info, bytes, maxAbsError };
}

/** Inverse of encodeArray; quantised floats come back as the original float dtype. */
export function decodeArray(info: BlobInfo, bytes: Uint8Array): StoredArray {
  // Copy into a fresh, aligned buffer: typed views need an offset that is a multiple of their
  // width, and Buffer#slice would return a view into Node's shared pool, not a copy.
  const owned = new Uint8Array(info.bytes);
  owned.set(bytes.subarray(0, info.bytes));
  const copy = owned.buffer;
  const Ctor = ARRAY_TYPES[info.dtype];
  if (info.stored === 'raw') return new Ctor(copy) as StoredArray;
  const restored = info.stored === 'fp16' ? fromHalfArray(new Uint16Array(copy)) : dequantize(new Uint8Array(copy), info.min ?? 0, info.max ?? 0);
  return info.dtype === 'float64' ? Float64Array.from(restored) : restored;
}

function dequantize(q: Uint8Array, min: number, max: number): Float32Array {
  const out = new Float32Array(q.length);
  const step = (max - min) / 255;
  for (let i = 0; i < q.length; i++) out[i] = min + q[i] * step;
  return out;
}
