import fs from 'node:fs';
import path from 'node:path';
import { decodeSafetensors, loadSafetensors, MAX_HEADER_BYTES, readSafetensorsHeader, SafetensorsFile, tf } from '@leantune/tensor';
import { makeTempDir, rawFile } from './safetensors-fixtures';

let dir: string;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const entry = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const json = (header: object) => JSON.stringify(header);

/** Every bad file, as [case, bytes, expected message]. */
const badFiles: Array<[string, Uint8Array, RegExp]> = [
  ['shorter than 8 bytes', new Uint8Array([1, 0, 0, 0, 0]), /is 5 bytes, shorter than the 8-byte header length/],
  ['empty file', new Uint8Array(0), /is 0 bytes, shorter than the 8-byte header length/],
  ['hostile header length 2^60', rawFile('{}', [], 2n ** 60n), /header length 1152921504606846976 exceeds the 16777216-byte cap/],
  ['header length past the end of the file', rawFile('{}', [], 1000n), /header length 1000 is larger than the file \(10 bytes\); the file is truncated/],
  ['invalid JSON', rawFile('{"a": {"dtype": ', []), /header is not valid JSON/],
  ['header not starting with {', rawFile(' {}', []), /header does not start with '\{'/],
  ['header that is a JSON array', rawFile('[1, 2]', []), /header does not start with '\{'/],
  ['header not UTF-8', rawFile('{}', []).map((b, i) => (i === 9 ? 0xff : b)), /header is not valid UTF-8/],
  ['unknown dtype', rawFile(json({ w: entry('F128', [1], [0, 16]) }), new Array(16).fill(0)), /tensor "w": unknown dtype "F128"; expected one of .*BF16/],
  ['negative dimension', rawFile(json({ w: entry('F32', [-1, 2], [0, 8]) }), new Array(8).fill(0)), /tensor "w": shape \[-1,2\] must be a list of non-negative integers/],
  ['fractional dimension', rawFile(json({ w: entry('F32', [1.5], [0, 6]) }), new Array(6).fill(0)), /tensor "w": shape \[1.5\] must be a list of non-negative integers/],
  ['data_offsets not a pair', rawFile(json({ w: entry('F32', [1], [0]) }), [0, 0, 0, 0]), /tensor "w": data_offsets \[0\] must be \[begin, end\]/],
  ['data_offsets ending before they begin', rawFile(json({ w: entry('F32', [0], [4, 0]) }), [0, 0, 0, 0]), /data_offsets \[4, 0\] end before they begin/],
  ['size not matching shape x dtype', rawFile(json({ w: entry('F32', [3], [0, 8]) }), new Array(8).fill(0)), /tensor "w": data_offsets \[0, 8\] hold 8 bytes, but shape \[3\] of F32 needs 12/],
  ['truncated data', rawFile(json({ w: entry('F32', [4], [0, 16]) }), new Array(10).fill(0)), /tensor "w": data_offsets \[0, 16\] run past the data buffer \(10 bytes\); the file is truncated/],
  [
    'overlapping tensors',
    rawFile(json({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }), new Array(12).fill(0)),
    /tensor "b" overlaps tensor "a" \(begins at 4, before 8\)/,
  ],
  [
    'gap between tensors',
    rawFile(json({ a: entry('F32', [1], [0, 4]), b: entry('F32', [1], [8, 12]) }), new Array(12).fill(0)),
    /gap of 4 unused bytes before tensor "b"/,
  ],
  ['bytes after the last tensor', rawFile(json({ a: entry('F32', [1], [0, 4]) }), new Array(8).fill(0)), /tensors cover 4 of the 8 data bytes/],
  ['metadata value not a string', rawFile(json({ __metadata__: { rank: 8 } }), []), /__metadata__ value "rank" is 8, but metadata values must be strings/],
  ['metadata not an object', rawFile(json({ __metadata__: 'x' }), []), /__metadata__ must be an object of string values/],
  ['tensor entry not an object', rawFile(json({ w: 3 }), []), /tensor "w": header entry must be an object/],
];

describe('rejecting bad safetensors files', () => {
  it.each(badFiles)('%s: in memory', (_case, bytes, message) => {
    expect(() => decodeSafetensors(bytes, 'mem.safetensors')).toThrow(message);
    expect(() => decodeSafetensors(bytes, 'mem.safetensors')).toThrow(/^mem\.safetensors: /);
  });

  it.each(badFiles)('%s: on disk, naming the file, through every reader', (_case, bytes, message) => {
    const file = path.join(dir, `${_case.replace(/\W+/g, '-')}.safetensors`);
    fs.writeFileSync(file, bytes);
    const named = new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: `);
    for (const read of [() => readSafetensorsHeader(file), () => SafetensorsFile.open(file), () => loadSafetensors(file)]) {
      expect(read).toThrow(message);
      expect(read).toThrow(named);
    }
  });

  it('checks a hostile header length before allocating from it', () => {
    const file = path.join(dir, 'hostile.safetensors');
    fs.writeFileSync(file, rawFile('{}', [], 2n ** 40n - 1n));
    const reads = jest.spyOn(fs, 'readSync');
    expect(() => readSafetensorsHeader(file)).toThrow(/header length 1099511627775 exceeds the 16777216-byte cap/);
    // Only the 8-byte length prefix was read.
    const calls = reads.mock.calls as unknown as Array<[number, Uint8Array, number, number, number]>;
    expect(calls.map((c) => c[3])).toEqual([8]);
    reads.mockRestore();
  });

  it('refuses a header one byte over the 16 MiB cap even when the file holds it, reading only the prefix', () => {
    const file = path.join(dir, 'over-cap.safetensors');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES + 1));
    fs.writeFileSync(file, prefix);
    fs.truncateSync(file, 8 + MAX_HEADER_BYTES + 1);
    const reads = jest.spyOn(fs, 'readSync');
    expect(() => readSafetensorsHeader(file)).toThrow(`${file}: header length ${MAX_HEADER_BYTES + 1} exceeds the 16777216-byte cap`);
    expect((reads.mock.calls as unknown as Array<[number, Uint8Array, number, number]>).map((c) => c[3])).toEqual([8]);
    reads.mockRestore();
  });

  it('accepts the smallest valid file and zero-size tensors', () => {
    expect(decodeSafetensors(rawFile('{}', []))).toEqual({ tensors: new Map(), metadata: {} });
    const header = json({ e: entry('F32', [0, 4], [0, 0]), f: entry('I32', [1], [0, 4]) });
    const { tensors } = decodeSafetensors(rawFile(header, [5, 0, 0, 0]));
    expect(tensors.get('e')!.shape).toEqual([0, 4]);
    expect(Array.from(tensors.get('f')!.dataSync())).toEqual([5]);
    tensors.forEach((t: tf.Tensor) => t.dispose());
  });
});
