import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { collect, imageBatch, parseIdx, readIdx, readIdxFile, readImageFolder, type ImageArray } from '@leantune/data';
import { tf } from '@leantune/tensor';
import { idxBytes, tempDir } from './helpers';

const tmp = tempDir('idx');
afterAll(() => tmp.cleanup());

// Three 2×3 images whose pixels are 10·i + j, labels 7, 0, 3.
const pixels = Uint8Array.from({ length: 18 }, (_, k) => 10 * Math.floor(k / 6) + (k % 6));
const imagesIdx = idxBytes(0x08, [3, 2, 3], pixels);
const labelsIdx = idxBytes(0x08, [3], Uint8Array.from([7, 0, 3]));

describe('IDX', () => {
  it('reads plain and gzip image/label pairs into records', async () => {
    writeFileSync(tmp.path('img.idx'), imagesIdx);
    writeFileSync(tmp.path('lab.idx.gz'), gzipSync(labelsIdx));
    const got = await collect(readIdx(tmp.path('img.idx'), tmp.path('lab.idx.gz')));
    expect(got.records.map((r) => r.label)).toEqual(['7', '0', '3']);
    const second = got.records[1].image as ImageArray;
    expect(second.shape).toEqual([2, 3, 1]);
    expect([...second.data]).toEqual([10, 11, 12, 13, 14, 15]);
    expect(got.records[2].meta).toEqual({ source: 'img.idx', row: 2 });
  });

  it('maps label values to names', async () => {
    const got = await collect(readIdx(tmp.path('img.idx'), tmp.path('lab.idx.gz'), { labelNames: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'] }));
    expect(got.records.map((r) => r.label)).toEqual(['h', 'a', 'd']);
  });

  it('decodes big-endian wider types', () => {
    const body = Buffer.alloc(8);
    body.writeInt32BE(-5, 0);
    body.writeFloatBE(1.5, 4);
    expect([...parseIdx(idxBytes(0x0c, [1], body.subarray(0, 4)), 'x').data]).toEqual([-5]);
    expect([...parseIdx(idxBytes(0x0d, [1], body.subarray(4)), 'x').data]).toEqual([1.5]);
  });

  it('rejects a truncated file with the declared and actual sizes', async () => {
    writeFileSync(tmp.path('cut.idx'), imagesIdx.subarray(0, imagesIdx.length - 4));
    await expect(readIdxFile(tmp.path('cut.idx'))).rejects.toThrow(
      /cut\.idx declares dims \[3, 2, 3\] of uint8 = 34 bytes, but has 30 bytes: it is truncated/,
    );
  });

  it('rejects trailing bytes, bad magic, unknown type codes and a truncated gzip', async () => {
    expect(() => parseIdx(Buffer.concat([labelsIdx, Buffer.from([1])]), 'l.idx')).toThrow(/has 12 bytes: it has trailing bytes/);
    expect(() => parseIdx(Buffer.from([1, 2, 8, 1, 0, 0, 0, 0]), 'm.idx')).toThrow(/m\.idx has magic bytes 0x0102.*not an IDX file/);
    expect(() => parseIdx(Buffer.from([0, 0, 0x42, 1, 0, 0, 0, 0]), 't.idx')).toThrow(/unknown element type code 0x42/);
    expect(() => parseIdx(Buffer.from([0, 0, 8, 3, 0, 0]), 'h.idx')).toThrow(/shorter than its 16-byte header/);
    const gz = gzipSync(imagesIdx);
    writeFileSync(tmp.path('cut.idx.gz'), gz.subarray(0, gz.length - 10));
    await expect(readIdxFile(tmp.path('cut.idx.gz'))).rejects.toThrow(/cut\.idx\.gz is gzip but could not be decompressed/);
  });

  it('fails when images and labels disagree in count', async () => {
    writeFileSync(tmp.path('lab2.idx'), idxBytes(0x08, [2], Uint8Array.from([1, 2])));
    await expect(collect(readIdx(tmp.path('img.idx'), tmp.path('lab2.idx')))).rejects.toThrow(/has 3 images but .*lab2\.idx has 2 labels/);
  });
});

/** A version-1 .npy file written by hand from the format spec. */
function npy(descr: string, shape: number[], body: Buffer): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre.writeUInt16LE(header.length, 8);
  return Buffer.concat([pre, Buffer.from(header, 'latin1'), body]);
}

describe('image folders', () => {
  it('reads class folders of .npy images and counts undecodable files by reason', async () => {
    const root = tmp.path('imgs');
    for (const c of ['cat', 'dog']) mkdirSync(`${root}/${c}`, { recursive: true });
    writeFileSync(`${root}/cat/1.npy`, npy('|u1', [2, 2], Buffer.from([0, 255, 1, 2])));
    const floats = Buffer.alloc(12);
    [0.5, 0.25, 1].forEach((v, i) => floats.writeFloatLE(v, i * 4));
    writeFileSync(`${root}/dog/2.npy`, npy('<f4', [1, 1, 3], floats));
    writeFileSync(`${root}/dog/3.png`, Buffer.from([0x89, 0x50]));
    writeFileSync(`${root}/dog/4.txt`, 'hi');
    writeFileSync(`${root}/dog/5.npy`, npy('|u1', [4, 4], Buffer.from([1, 2, 3])));
    const got = await collect(readImageFolder(root));
    expect(got.records.map((r) => [r.id, r.label, (r.image as ImageArray).shape])).toEqual([
      ['imgs/cat/1.npy', 'cat', [2, 2, 1]],
      ['imgs/dog/2.npy', 'dog', [1, 1, 3]],
    ]);
    expect([...(got.records[0].image as ImageArray).data]).toEqual([0, 255, 1, 2]);
    expect([...(got.records[1].image as ImageArray).data]).toEqual([0.5, 0.25, 1]);
    expect(got.skipped.map((s) => [s.reason, s.message.split(':')[0]])).toEqual([
      ['needs-decoder', 'dog/3.png'],
      ['unsupported-format', 'dog/4.txt'],
      ['corrupt-image', 'dog/5.npy'],
    ]);
    expect(got.skipped[0].message).toMatch(/add the "pngjs" package/);
  });

  it('uses an injected decoder for other formats', async () => {
    const root = tmp.path('imgs2');
    mkdirSync(`${root}/a`, { recursive: true });
    writeFileSync(`${root}/a/x.png`, Buffer.from([9]));
    const got = await collect(readImageFolder(root, { decoders: { '.png': (bytes) => ({ data: Uint8Array.from(bytes), shape: [1, 1, 1] }) } }));
    expect(got.records.map((r) => [r.label, [...(r.image as ImageArray).data]])).toEqual([['a', [9]]]);
  });

  it('says what layout it expects when the folder has no classes', async () => {
    const root = tmp.path('flat');
    mkdirSync(root);
    await expect(collect(readImageFolder(root))).rejects.toThrow(/has no class sub-folders \(layout: .*<class>\/<image files>\)/);
  });
});

describe('imageBatch', () => {
  it('stacks images as float32 NHWC scaled to 0..1 without leaking tensors', () => {
    const records = [
      { id: 'a', image: { data: Uint8Array.from([0, 255]), shape: [1, 2, 1] as [number, number, number] }, meta: { source: 's', row: 0 } },
      { id: 'b', image: { data: Float32Array.from([0.5, 1]), shape: [1, 2, 1] as [number, number, number] }, meta: { source: 's', row: 1 } },
    ];
    const before = tf.memory().numTensors;
    const t = imageBatch(records);
    expect(t.shape).toEqual([2, 1, 2, 1]);
    expect([...t.dataSync()]).toEqual([0, 1, 0.5, 1]);
    t.dispose();
    expect(tf.memory().numTensors).toBe(before);
    const odd = { ...records[1], id: 'odd', image: { data: new Float32Array(3), shape: [1, 3, 1] as [number, number, number] } };
    expect(() => imageBatch([records[0], odd])).toThrow(/Record odd has image shape \[1, 3, 1\], but the batch is \[1, 2, 1\]/);
  });
});
