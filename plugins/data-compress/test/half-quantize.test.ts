import { decodeArray, encodeArray, fromHalfBits, toHalfBits } from '@leantune/plugin-data-compress';

describe('fp16 bit patterns', () => {
  // Reference patterns from the IEEE 754 binary16 table (Wikipedia, "Half-precision floating-point format").
  const table: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [0.333251953125, 0x3555],
    [2 ** -14, 0x0400],
    [2 ** -24, 0x0001],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
  ];
  it.each(table)('%p ↔ 0x%s', (value, bits) => {
    expect(toHalfBits(value)).toBe(bits);
    expect(Object.is(fromHalfBits(bits), value)).toBe(true);
  });

  it('rounds to nearest, ties to even, and overflows to infinity', () => {
    expect(toHalfBits(1 / 3)).toBe(0x3555);
    expect(toHalfBits(0.1)).toBe(0x2e66);
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie between 1 and 1+2^-10: even mantissa wins
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie between …01 and …10: even (…10)
    expect(toHalfBits(65520)).toBe(0x7c00); // halfway past the largest finite rounds up
    expect(toHalfBits(2 ** -25)).toBe(0x0000); // tie with the smallest subnormal: even (0)
    expect(toHalfBits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(Number.isNaN(fromHalfBits(toHalfBits(NaN)))).toBe(true);
  });
});

describe('array quantisation', () => {
  it('uint8: affine over [min, max], exact levels and error', () => {
    const enc = encodeArray(Float32Array.from([0, 0.5, 1]), 'uint8');
    expect(enc.info).toMatchObject({ stored: 'uint8', min: 0, max: 1, length: 3, bytes: 3, dtype: 'float32' });
    expect(Array.from(enc.bytes)).toEqual([0, 128, 255]); // 0.5·255 = 127.5 rounds to 128
    const back = decodeArray({ ...enc.info, offset: 0 }, enc.bytes);
    expect(back).toBeInstanceOf(Float32Array);
    expect(Array.from(back)).toEqual([0, Math.fround(128 / 255), 1]);
    expect(enc.maxAbsError).toBeCloseTo(128 / 255 - 0.5, 6);
  });

  it('fp16 keeps float64 arrays float64; integer arrays are stored raw whatever the mode', () => {
    const enc = encodeArray(Float64Array.from([0.1, -3]), 'fp16');
    const back = decodeArray({ ...enc.info, offset: 0 }, enc.bytes);
    expect(back).toBeInstanceOf(Float64Array);
    expect(Array.from(back)).toEqual([fromHalfBits(0x2e66), -3]);
    const ints = encodeArray(Uint8Array.from([7, 255]), 'uint8');
    expect(ints.info.stored).toBe('raw');
    expect(ints.maxAbsError).toBe(0);
  });

  it('uint8 of a constant array and of non-finite values', () => {
    const enc = encodeArray(Float32Array.from([2, 2]), 'uint8');
    expect(Array.from(decodeArray({ ...enc.info, offset: 0 }, enc.bytes))).toEqual([2, 2]);
    expect(() => encodeArray(Float32Array.from([1, NaN]), 'uint8')).toThrow(/finite values.*fp16 or none/);
  });
});
