// Float16 / bfloat16 <-> float32 conversions on raw bit patterns. Rounding is IEEE
// round-to-nearest-even, the same as PyTorch's `.half()` / `.bfloat16()`, so files we
// write hold the values other tools would have written.

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** float32 bit pattern of a number (after rounding it to float32). */
export function float32Bits(value: number): number {
  f32[0] = value;
  return u32[0];
}

/** Float16 bit pattern of a float32 value, rounded to nearest even. */
export function float32ToFloat16Bits(value: number): number {
  const x = float32Bits(value);
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    // Keeps NaN a (quiet) NaN even when its payload lives only in the low bits.
    return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0);
  }
  const halfExp = exp - 127 + 15;
  if (halfExp >= 0x1f) return sign | 0x7c00;
  if (halfExp <= 0) {
    // Below 2^-25 every value rounds to zero (2^-25 itself is a tie, and zero is even).
    if (halfExp < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - halfExp;
    return sign | roundShift(mant, shift);
  }
  // A carry out of the mantissa correctly bumps the exponent (and reaches Inf at the top).
  return sign + ((halfExp << 10) | (mant >>> 13)) + roundingIncrement(mant, 13, mant >>> 13);
}

function roundShift(value: number, shift: number): number {
  const kept = value >>> shift;
  return kept + roundingIncrement(value, shift, kept);
}

function roundingIncrement(value: number, shift: number, kept: number): number {
  const halfway = 1 << (shift - 1);
  const rest = value & ((1 << shift) - 1);
  return rest > halfway || (rest === halfway && (kept & 1) === 1) ? 1 : 0;
}

/** Bfloat16 bit pattern of a float32 value, rounded to nearest even. */
export function float32ToBfloat16Bits(value: number): number {
  const x = float32Bits(value);
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) & 0x8000) | 0x7fc0;
  return (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
}

let float16Table: Float32Array | undefined;

/** All 65536 float16 values, built once: decoding is then one lookup per element. */
function float16ToFloat32Table(): Float32Array {
  if (float16Table) return float16Table;
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const mant = h & 0x3ff;
    if (exp === 0) table[h] = sign * mant * 2 ** -24;
    else if (exp === 0x1f) table[h] = mant !== 0 ? NaN : sign * Infinity;
    else table[h] = sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  float16Table = table;
  return table;
}

export function float16ToFloat32(bits: number): number {
  return float16ToFloat32Table()[bits & 0xffff];
}

export function decodeFloat16(bits: Uint16Array): Float32Array {
  const table = float16ToFloat32Table();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]];
  return out;
}

export function decodeBfloat16(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

export function encodeFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToFloat16Bits(values[i]);
  return out;
}

export function encodeBfloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = float32ToBfloat16Bits(values[i]);
  return out;
}
