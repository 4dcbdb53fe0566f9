import {
  decodeSafetensors,
  encodeSafetensors,
  float16ToFloat32,
  float32ToBfloat16Bits,
  float32ToFloat16Bits,
  tf,
} from '@leantune/tensor';
import { rawFile, singleTensorFile } from './safetensors-fixtures';

function decodeOne(bytes: Uint8Array): { values: number[]; dtype: string; shape: number[] } {
  const { tensors } = decodeSafetensors(bytes, 'test.safetensors');
  const t = tensors.get('t')!;
  const out = { values: Array.from(t.dataSync()), dtype: t.dtype, shape: t.shape };
  t.dispose();
  return out;
}

describe('float16 / bfloat16 bit patterns', () => {
  it.each([
    [1.0, 0x3c00],
    [-2.0, 0xc000],
    [0.5, 0x3800],
    [0.1, 0x2e66], // 0x3DCCCCCD: dropped bits 0xCCD < halfway 0x1000
    [65504, 0x7bff], // largest finite half
    [65519, 0x7bff], // just below the halfway point to infinity
    [65520, 0x7c00], // halfway: ties to even, which is infinity
    [1e6, 0x7c00],
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [NaN, 0x7e00],
    [0, 0x0000],
    [-0, 0x8000],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -14 - 2 ** -24, 0x03ff], // largest subnormal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24: even is 0
    [1.5 * 2 ** -25, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units: even is 2
    [1 + 2 ** -11, 0x3c00], // tie between 1.0 and next: even is 1.0
    [1 + 3 * 2 ** -11, 0x3c02], // tie between 0x3C01 and 0x3C02: even is 0x3C02
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie rounds up
  ])('float16(%p) = %p', (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it.each([
    [1.0, 0x3f80],
    [-2.0, 0xc000],
    [0.1, 0x3dcd], // 0x3DCCCCCD: dropped 0xCCCD > 0x8000 rounds up
    [1 + 2 ** -8, 0x3f80], // tie: even is 0x3F80
    [1 + 3 * 2 ** -8, 0x3f82], // tie: even is 0x3F82
    [1 + 2 ** -8 + 2 ** -20, 0x3f81],
    [3.4028234663852886e38, 0x7f80], // float32 max rounds to infinity
    [Infinity, 0x7f80],
    [-0, 0x8000],
    [NaN, 0x7fc0],
  ])('bfloat16(%p) = %p', (value, bits) => {
    expect(float32ToBfloat16Bits(value)).toBe(bits);
  });

  it('decodes float16 bit patterns', () => {
    expect(float16ToFloat32(0x3c00)).toBe(1);
    expect(float16ToFloat32(0x3555)).toBe(0.333251953125);
    expect(float16ToFloat32(0x2e66)).toBe(0.0999755859375);
    expect(float16ToFloat32(0x7bff)).toBe(65504);
    expect(float16ToFloat32(0x0001)).toBe(2 ** -24);
    expect(float16ToFloat32(0x03ff)).toBe(2 ** -14 - 2 ** -24);
    expect(float16ToFloat32(0xfc00)).toBe(-Infinity);
    expect(float16ToFloat32(0x7e00)).toBeNaN();
    expect(Object.is(float16ToFloat32(0x8000), -0)).toBe(true);
  });
});

describe('decoding hand-built files', () => {
  it('decodes a multi-tensor file written byte by byte from the spec', () => {
    const header =
      '{"__metadata__":{"format":"pt"},' +
      '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"ids":{"dtype":"I64","shape":[1,2],"data_offsets":[8,24]},' +
      '"h":{"dtype":"F16","shape":[3],"data_offsets":[24,30]},' +
      '"b":{"dtype":"BF16","shape":[],"data_offsets":[30,32]}}   '; // trailing space padding is legal
    const data = [
      ...[0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x20, 0xc0], // F32 1.0, -2.5
      ...[0x03, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], // I64 3, -1
      ...[0x00, 0x3c, 0x00, 0x38, 0x00, 0xc0], // F16 1.0, 0.5, -2.0
      ...[0x20, 0x3e], // BF16 0x3E20 = 0.15625
    ];
    const before = tf.memory().numTensors;
    const { tensors, metadata } = decodeSafetensors(rawFile(header, data));
    expect(metadata).toEqual({ format: 'pt' });
    expect([...tensors.keys()].sort()).toEqual(['b', 'h', 'ids', 'w']);
    expect(Array.from(tensors.get('w')!.dataSync())).toEqual([1, -2.5]);
    expect(tensors.get('ids')!.dtype).toBe('int32');
    expect(tensors.get('ids')!.shape).toEqual([1, 2]);
    expect(Array.from(tensors.get('ids')!.dataSync())).toEqual([3, -1]);
    expect(Array.from(tensors.get('h')!.dataSync())).toEqual([1, 0.5, -2]);
    expect(tensors.get('b')!.shape).toEqual([]);
    expect(tensors.get('b')!.dataSync()[0]).toBe(0.15625);
    tensors.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it.each<[string, number[], number[], string, number[]]>([
    ['I32', [2], [0x07, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff], 'int32', [7, -2]],
    ['U8', [2], [0, 255], 'int32', [0, 255]],
    ['I8', [2], [0xff, 0x7f], 'int32', [-1, 127]],
    ['U16', [1], [0xff, 0xff], 'int32', [65535]],
    ['I16', [1], [0xfe, 0xff], 'int32', [-2]],
    ['U32', [1], [0xff, 0xff, 0xff, 0x7f], 'int32', [2147483647]],
    ['BOOL', [3], [1, 0, 1], 'bool', [1, 0, 1]],
    ['F64', [1], [0, 0, 0, 0, 0, 0, 0xf8, 0x3f], 'float32', [1.5]],
    ['I64', [2], [0, 0, 0, 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0], 'int32', [-(2 ** 31), 2 ** 31 - 1]],
    ['U64', [1], [0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0], 'int32', [2 ** 31 - 1]],
  ])('reads %s', (dtype, shape, bytes, tfDtype, values) => {
    expect(decodeOne(singleTensorFile(dtype, shape, bytes))).toEqual({ values, dtype: tfDtype, shape });
  });

  it.each<[string, number[], RegExp]>([
    ['I64', [0, 0, 0, 0x80, 0, 0, 0, 0], /tensor "t": element 0 is 2147483648, outside the int32 range/],
    ['I64', [0xff, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff], /element 0 is -2147483649, outside the int32 range/],
    ['U64', [0, 0, 0, 0, 1, 0, 0, 0], /element 0 is 4294967296, outside the int32 range/],
  ])('rejects an out-of-range %s value, naming file and tensor', (dtype, bytes, message) => {
    const before = tf.memory().numTensors;
    expect(() => decodeOne(singleTensorFile(dtype, [1], bytes))).toThrow(message);
    expect(() => decodeOne(singleTensorFile(dtype, [1], bytes))).toThrow(/test\.safetensors/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses to read F8 tensors into tfjs, saying what to do', () => {
    expect(() => decodeOne(singleTensorFile('F8_E4M3', [1], [0x38]))).toThrow(/F8_E4M3 is valid safetensors but cannot be read/);
  });
});

describe('encoding', () => {
  it('lays out the file as the reference writer: metadata first, wide dtypes first, names sorted, 8-byte aligned', () => {
    const tensors = { b: tf.tensor1d([1]), a: tf.tensor1d([7], 'int32'), '0': tf.tensor1d([2]) };
    const bytes = encodeSafetensors(tensors, { format: 'pt' }, { dtype: 'F16' });
    const headerLength = Number(Buffer.from(bytes).readBigUInt64LE(0));
    const expectedJson =
      '{"__metadata__":{"format":"pt"},' +
      '"a":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},' +
      '"0":{"dtype":"F16","shape":[1],"data_offsets":[4,6]},' +
      '"b":{"dtype":"F16","shape":[1],"data_offsets":[6,8]}}';
    expect(headerLength % 8).toBe(0);
    expect(headerLength - expectedJson.length).toBeLessThan(8);
    expect(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString()).toBe(expectedJson.padEnd(headerLength, ' '));
    // I32 7, F16 2.0 (0x4000), F16 1.0 (0x3C00)
    expect(Array.from(bytes.subarray(8 + headerLength))).toEqual([7, 0, 0, 0, 0x00, 0x40, 0x00, 0x3c]);
    Object.values(tensors).forEach((t) => t.dispose());
  });

  it('puts F32 before I32 (reference enum order), whatever the names', () => {
    const tensors = { a: tf.tensor1d([7], 'int32'), z: tf.tensor1d([1]) };
    const bytes = encodeSafetensors(tensors);
    const header = Buffer.from(bytes.subarray(8, 8 + Number(Buffer.from(bytes).readBigUInt64LE(0)))).toString();
    expect(header.trimEnd()).toBe(
      '{"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}}',
    );
    expect(Array.from(bytes.subarray(bytes.length - 8))).toEqual([0x00, 0x00, 0x80, 0x3f, 7, 0, 0, 0]);
    Object.values(tensors).forEach((t) => t.dispose());
  });

  it('stores BF16 bit patterns with round-to-nearest-even', () => {
    const t = tf.tensor1d([1, 0.1, 1 + 2 ** -8]);
    const bytes = encodeSafetensors({ t }, undefined, { dtype: 'BF16' });
    const data = bytes.subarray(bytes.length - 6);
    expect(Array.from(data)).toEqual([0x80, 0x3f, 0xcd, 0x3d, 0x80, 0x3f]);
    t.dispose();
  });

  it.each<['F32' | 'F16' | 'BF16', number[]]>([
    ['F32', [1, Math.fround(0.1), -65504, 2 ** -24, Math.fround(3e38)]],
    ['F16', [1, 0.0999755859375, -65504, 2 ** -24, Infinity]],
    // 3e38 = 1.7632 * 2^127; 7 mantissa bits: 97.69/128 rounds to 98/128
    ['BF16', [1, 0.10009765625, -65536, 2 ** -24, (1 + 98 / 128) * 2 ** 127]],
  ])('round-trips float32 tensors stored as %s', (dtype, expected) => {
    const before = tf.memory().numTensors;
    const t = tf.tensor2d([1, 0.1, -65504, 2 ** -24, 3e38], [5, 1]);
    const { tensors } = decodeSafetensors(encodeSafetensors({ t }, undefined, { dtype }));
    const back = tensors.get('t')!;
    expect(back.shape).toEqual([5, 1]);
    expect(back.dtype).toBe('float32');
    expect(Array.from(back.dataSync())).toEqual(expected);
    t.dispose();
    back.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('round-trips int32, bool, scalars, empty tensors and metadata', () => {
    const input = new Map<string, tf.Tensor>([
      ['ids', tf.tensor2d([[1, -2], [2147483647, -2147483648]], [2, 2], 'int32')],
      ['mask', tf.tensor1d([true, false, true], 'bool')],
      ['scale', tf.scalar(0.25)],
      ['empty', tf.zeros([0, 3])],
    ]);
    const metadata = { format: 'pt', 'lora.rank': '8', note: 'ünïcødé "quoted"' };
    const decoded = decodeSafetensors(encodeSafetensors(input, metadata));
    expect(decoded.metadata).toEqual(metadata);
    for (const [name, t] of input) {
      const back = decoded.tensors.get(name)!;
      expect([name, back.dtype, back.shape, Array.from(back.dataSync())]).toEqual([name, t.dtype, t.shape, Array.from(t.dataSync())]);
    }
    input.forEach((t) => t.dispose());
    decoded.tensors.forEach((t) => t.dispose());
  });

  it('rejects tensors and metadata it cannot store', () => {
    const c = tf.complex([1], [2]);
    expect(() => encodeSafetensors({ c })).toThrow(/Tensor "c" has dtype complex64/);
    c.dispose();
    const t = tf.scalar(1);
    expect(() => encodeSafetensors({ __metadata__: t })).toThrow(/reserved/);
    expect(() => encodeSafetensors({ t }, { n: 3 as unknown as string })).toThrow(/metadata "n" must be a string/);
    t.dispose();
    expect(() => encodeSafetensors({ t })).toThrow(/tensor "t" is disposed/);
  });
});
