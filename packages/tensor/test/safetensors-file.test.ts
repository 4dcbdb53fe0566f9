import fs from 'node:fs';
import path from 'node:path';
import {
  loadSafetensors,
  readSafetensorsHeader,
  SafetensorsFile,
  saveSafetensors,
  tf,
} from '@leantune/tensor';
import { makeTempDir, rawFile } from './safetensors-fixtures';

let dir: string;
beforeAll(() => {
  dir = makeTempDir();
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
afterEach(() => jest.restoreAllMocks());

function values(t: tf.Tensor): number[] {
  return Array.from(t.dataSync());
}

describe('saveSafetensors / loadSafetensors', () => {
  it('round-trips tensors and metadata through a file', () => {
    const file = path.join(dir, 'roundtrip.safetensors');
    const before = tf.memory().numTensors;
    const input = {
      'h.0.attn.c_attn.weight': tf.tensor2d([[1, 2, 3], [4, 5, 6]]),
      'h.0.attn.c_attn.bias': tf.tensor1d([0.5, -0.25, 0.125]),
      step: tf.scalar(42, 'int32'),
    };
    saveSafetensors(file, input, { format: 'pt', method: 'lora' });
    const { tensors, metadata } = loadSafetensors(file);
    expect(metadata).toEqual({ format: 'pt', method: 'lora' });
    expect([...tensors.keys()].sort()).toEqual(Object.keys(input).sort());
    expect(values(tensors.get('h.0.attn.c_attn.weight')!)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(tensors.get('h.0.attn.c_attn.weight')!.shape).toEqual([2, 3]);
    expect(values(tensors.get('h.0.attn.c_attn.bias')!)).toEqual([0.5, -0.25, 0.125]);
    expect(tensors.get('step')!.dtype).toBe('int32');
    expect(values(tensors.get('step')!)).toEqual([42]);
    Object.values(input).forEach((t) => t.dispose());
    tensors.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('writes F16 when asked: 6 data bytes for three floats, 1.0 stored as 0x3C00', () => {
    const file = path.join(dir, 'half.safetensors');
    const t = tf.tensor1d([1, 2, -0.5]);
    saveSafetensors(file, new Map([['t', t]]), undefined, { dtype: 'F16' });
    const header = readSafetensorsHeader(file);
    expect(header.tensors.get('t')).toEqual({ dtype: 'F16', shape: [3], begin: 0, end: 6 });
    expect(header.fileSize - header.dataStart).toBe(6);
    const bytes = fs.readFileSync(file).subarray(header.dataStart);
    expect(Array.from(bytes)).toEqual([0x00, 0x3c, 0x00, 0x40, 0x00, 0xb8]);
    t.dispose();
  });

  it('replaces an existing file atomically and leaves no temp file behind', () => {
    const file = path.join(dir, 'atomic.safetensors');
    const a = tf.tensor1d([1, 2]);
    const b = tf.tensor1d([3, 4, 5]);
    saveSafetensors(file, { a });
    const firstBytes = fs.readFileSync(file);
    // A write failing midway must leave the old file untouched.
    const realWrite = fs.writeSync;
    let calls = 0;
    jest.spyOn(fs, 'writeSync').mockImplementation(((...args: Parameters<typeof fs.writeSync>) => {
      if (++calls === 2) throw new Error('disk full');
      return (realWrite as (...a: unknown[]) => number)(...args);
    }) as typeof fs.writeSync);
    expect(() => saveSafetensors(file, { b })).toThrow('disk full');
    jest.restoreAllMocks();
    expect(fs.readFileSync(file).equals(firstBytes)).toBe(true);
    expect(fs.readdirSync(dir).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);

    saveSafetensors(file, { b });
    const { tensors } = loadSafetensors(file);
    expect([...tensors.keys()]).toEqual(['b']);
    expect(values(tensors.get('b')!)).toEqual([3, 4, 5]);
    expect(fs.readdirSync(dir).filter((f) => f.includes('atomic'))).toEqual(['atomic.safetensors']);
    tensors.forEach((t) => t.dispose());
    a.dispose();
    b.dispose();
  });
});

describe('SafetensorsFile (lazy)', () => {
  const file = () => path.join(dir, 'lazy.safetensors');
  beforeAll(() => {
    const tensors = {
      big: tf.ones([64, 64]), // 16384 bytes
      small: tf.tensor1d([7, 8, 9], 'int32'), // 12 bytes
      other: tf.tensor1d([0.5, 1.5]), // 8 bytes
    };
    saveSafetensors(file(), tensors, { format: 'pt' });
    Object.values(tensors).forEach((t) => t.dispose());
  });

  it('reads only the bytes of the requested tensor, at its offset', () => {
    const st = SafetensorsFile.open(file());
    const info = st.info('small');
    expect(info).toMatchObject({ dtype: 'I32', shape: [3] });
    expect(info.end - info.begin).toBe(12);
    const reads = jest.spyOn(fs, 'readSync');
    const small = st.get('small');
    expect(values(small)).toEqual([7, 8, 9]);
    const calls = reads.mock.calls as unknown as Array<[number, Uint8Array, number, number, number]>;
    const bytesRequested = calls.reduce((sum, c) => sum + c[3], 0);
    expect(bytesRequested).toBe(12);
    expect(calls[0][4]).toBe(st.header.dataStart + info.begin);
    expect(st.bytesRead).toBe(12);
    expect(st.bytesRead).toBeLessThan(fs.statSync(file()).size / 100);
    small.dispose();
    st.close();
  });

  it('lists keys and metadata, filters getAll, and fails clearly on unknown names and after close', () => {
    const before = tf.memory().numTensors;
    const st = SafetensorsFile.open(file());
    expect(st.keys().sort()).toEqual(['big', 'other', 'small']);
    expect(st.metadata).toEqual({ format: 'pt' });
    const some = st.getAll((name) => name !== 'big');
    expect([...some.keys()].sort()).toEqual(['other', 'small']);
    expect(values(some.get('other')!)).toEqual([0.5, 1.5]);
    expect(st.bytesRead).toBe(20);
    expect(() => st.get('nope')).toThrow(/lazy\.safetensors: no tensor named "nope"; the file holds: .*big/);
    st.close();
    expect(() => st.get('small')).toThrow(/file is closed/);
    some.forEach((t) => t.dispose());
    expect(tf.memory().numTensors).toBe(before);
  });

  it('reports a file truncated after open, without leaking tensors', () => {
    const copy = path.join(dir, 'shrinking.safetensors');
    fs.copyFileSync(file(), copy);
    const st = SafetensorsFile.open(copy);
    const before = tf.memory().numTensors;
    // "big" and "other" still read; "small" (last in the data) is cut short.
    expect(st.info('small').begin).toBe(st.info('other').end);
    fs.truncateSync(copy, st.header.dataStart + st.info('small').begin + 4);
    const get = jest.spyOn(st, 'get');
    expect(() => st.getAll()).toThrow(/shrinking\.safetensors: unexpected end of file/);
    expect(get).toHaveBeenCalledTimes(3);
    expect(tf.memory().numTensors).toBe(before);
    st.close();
  });
});

describe('readSafetensorsHeader', () => {
  it('parses a hand-built file header without reading data', () => {
    const file = path.join(dir, 'hand.safetensors');
    const header = '{"x":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}  ';
    fs.writeFileSync(file, rawFile(header, [0, 0, 0, 0, 0, 0, 0, 0]));
    const parsed = readSafetensorsHeader(file);
    expect(parsed.metadata).toEqual({ k: 'v' });
    expect(parsed.tensors.get('x')).toEqual({ dtype: 'BF16', shape: [2, 2], begin: 0, end: 8 });
    expect(parsed.dataStart).toBe(8 + header.length);
    expect(parsed.fileSize).toBe(8 + header.length + 8);
  });
});
