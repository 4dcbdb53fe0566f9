import * as tf from '@tensorflow/tfjs-core';
import { decodeBfloat16, decodeFloat16, encodeBfloat16, encodeFloat16 } from './half';

/**
 * Element sizes of every safetensors dtype we know the size of (header validation needs it),
 * listed in the reference implementation's enum order, which its writer sorts by.
 */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** Dtypes `saveSafetensors` may store float32 tensors as. */
export type FloatStorageDtype = 'F32' | 'F16' | 'BF16';

const DTYPE_RANK = new Map(Object.keys(DTYPE_BYTES).map((dtype, rank) => [dtype, rank]));

/** Position in the reference enum: its writer puts higher ranks (wider types) first. */
export function dtypeRank(dtype: SafetensorsDtype): number {
  return DTYPE_RANK.get(dtype)!;
}

export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Safetensors data is little-endian; only a big-endian host needs the swap. */
function fixEndianInPlace(bytes: Uint8Array, width: number): void {
  if (HOST_IS_LITTLE_ENDIAN || width === 1) return;
  for (let i = 0; i < bytes.length; i += width) bytes.subarray(i, i + width).reverse();
}

/** Narrows 64-bit integers (as lo/hi int32 word pairs) to int32, failing on the first value out of range. */
function narrow64(words: Int32Array, signed: boolean, describe: () => string): Int32Array {
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const lo = words[2 * i];
    const hi = words[2 * i + 1];
    // Fits in int32 exactly when the high word is the sign extension of the low word.
    const fits = signed ? hi === lo >> 31 : hi === 0 && lo >= 0;
    if (!fits) {
      const big = (BigInt(hi) << 32n) | BigInt(lo >>> 0);
      const value = signed ? BigInt.asIntN(64, big) : BigInt.asUintN(64, big);
      throw new Error(
        `${describe()}: element ${i} is ${value}, outside the int32 range tfjs can hold; ` +
          `store this tensor as I32 or F32 instead`,
      );
    }
    out[i] = lo;
  }
  return out;
}

function widenToInt32(values: ArrayLike<number>): Int32Array {
  return Int32Array.from(values);
}

/**
 * Turns the raw little-endian bytes of one tensor into a tf.Tensor. `bytes` must be a
 * private copy starting at offset 0 of its buffer: it is reused in place, never copied again.
 * `describe` names the file and tensor in errors.
 */
export function tensorFromBytes(
  bytes: Uint8Array,
  dtype: SafetensorsDtype,
  shape: number[],
  describe: () => string,
): tf.Tensor {
  if (bytes.byteOffset !== 0) throw new Error(`${describe()}: internal error, unaligned tensor bytes`);
  const width = DTYPE_BYTES[dtype];
  fixEndianInPlace(bytes, width);
  const buffer = bytes.buffer;
  const count = bytes.length / width;
  switch (dtype) {
    case 'F32':
      return tf.tensor(new Float32Array(buffer, 0, count), shape, 'float32');
    case 'F16':
      return tf.tensor(decodeFloat16(new Uint16Array(buffer, 0, count)), shape, 'float32');
    case 'BF16':
      return tf.tensor(decodeBfloat16(new Uint16Array(buffer, 0, count)), shape, 'float32');
    case 'F64':
      // tfjs has no float64: values are rounded to float32.
      return tf.tensor(Float32Array.from(new Float64Array(buffer, 0, count)), shape, 'float32');
    case 'I32':
      return tf.tensor(new Int32Array(buffer, 0, count), shape, 'int32');
    case 'I64':
      return tf.tensor(narrow64(new Int32Array(buffer, 0, count * 2), true, describe), shape, 'int32');
    case 'U64':
      return tf.tensor(narrow64(new Int32Array(buffer, 0, count * 2), false, describe), shape, 'int32');
    case 'U32': {
      const words = new Int32Array(buffer, 0, count);
      const bad = words.findIndex((w) => w < 0);
      if (bad >= 0) {
        throw new Error(`${describe()}: element ${bad} is ${words[bad] >>> 0}, outside the int32 range tfjs can hold`);
      }
      return tf.tensor(words, shape, 'int32');
    }
    case 'U8':
      return tf.tensor(widenToInt32(bytes), shape, 'int32');
    case 'I8':
      return tf.tensor(widenToInt32(new Int8Array(buffer, 0, count)), shape, 'int32');
    case 'U16':
      return tf.tensor(widenToInt32(new Uint16Array(buffer, 0, count)), shape, 'int32');
    case 'I16':
      return tf.tensor(widenToInt32(new Int16Array(buffer, 0, count)), shape, 'int32');
    case 'BOOL':
      return tf.tensor(bytes.map((b) => (b !== 0 ? 1 : 0)), shape, 'bool');
    default:
      throw new Error(
        `${describe()}: dtype ${dtype} is valid safetensors but cannot be read into tfjs; ` +
          `convert the tensor to F32, F16, BF16 or an integer dtype before loading`,
      );
  }
}

/** The safetensors dtype a tensor is stored as. */
export function storageDtype(tensor: tf.Tensor, floatDtype: FloatStorageDtype, name: string): SafetensorsDtype {
  switch (tensor.dtype) {
    case 'float32':
      return floatDtype;
    case 'int32':
      return 'I32';
    case 'bool':
      return 'BOOL';
    default:
      throw new Error(
        `Tensor "${name}" has dtype ${tensor.dtype}, which safetensors cannot store; ` +
          `cast it to float32 or int32 first`,
      );
  }
}

/** The little-endian bytes of `tensor` stored as `dtype` (a fresh array the caller may keep). */
export function tensorToBytes(tensor: tf.Tensor, dtype: SafetensorsDtype): Uint8Array {
  const values = tensor.dataSync();
  let typed: ArrayBufferView;
  switch (dtype) {
    case 'F32':
      typed = Float32Array.from(values as Float32Array);
      break;
    case 'F16':
      typed = encodeFloat16(values as Float32Array);
      break;
    case 'BF16':
      typed = encodeBfloat16(values as Float32Array);
      break;
    case 'I32':
      typed = Int32Array.from(values as Int32Array);
      break;
    case 'BOOL':
      typed = Uint8Array.from(values as Uint8Array, (v) => (v !== 0 ? 1 : 0));
      break;
    default:
      throw new Error(`Writing dtype ${dtype} is not supported; use F32, F16, BF16, I32 or BOOL`);
  }
  const bytes = new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
  fixEndianInPlace(bytes, DTYPE_BYTES[dtype]);
  return bytes;
}
