import { mkdirSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { collect, imageHeaderSize, parseNpy, readIdx, readIdxFile, readImageFolder, readNpyFile, type ImageArray } from '@leantune/data';
import { idxBytes, npyBytes as npy, tempDir } from './helpers';

// Bounded memory for the binary readers (issue 19): IDX sizes come from the header and are
// capped, gzip stops at the declared size, .npy and image files are capped by size before
// they are read, and a PNG/JPEG header declaring too many pixels never reaches a decoder.
const tmp = tempDir('limits');
afterAll(() => tmp.cleanup());

/** A PNG signature and IHDR for width × height (no image data). */
function pngHead(width: number, height: number): Buffer {
  const b = Buffer.alloc(33);
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]).copy(b, 0);
  b.writeUInt32BE(13, 8);
  b.write('IHDR', 12, 'latin1');
  b.writeUInt32BE(width, 16);
  b.writeUInt32BE(height, 20);
  return b;
}

/** A JPEG start: SOI, an APP0 segment, a DQT-like filler segment, then SOF `code` for width × height. */
function jpegHead(code: number, width: number, height: number): Buffer {
  const app0 = Buffer.from([0xff, 0xe0, 0x00, 0x10, ...Buffer.from('JFIF\0'), 1, 1, 0, 0, 1, 0, 1, 0, 0]);
  const filler = Buffer.from([0xff, 0xdb, 0x00, 0x04, 0x00, 0x00]);
  const sof = Buffer.alloc(11);
  sof[0] = 0xff;
  sof[1] = code;
  sof.writeUInt16BE(11, 2);
  sof[4] = 8;
  sof.writeUInt16BE(height, 5);
  sof.writeUInt16BE(width, 7);
  return Buffer.concat([Buffer.from([0xff, 0xd8]), app0, filler, Buffer.from([0xff]), sof]);
}

describe('IDX sizes', () => {
  const labels = idxBytes(0x08, [4], Uint8Array.from([1, 2, 3, 4]));

  it('stops a gzip file at the size its dims declare (a bomb), naming both', async () => {
    writeFileSync(tmp.path('bomb.idx.gz'), gzipSync(Buffer.concat([labels, Buffer.alloc(4 * 1024 * 1024)])));
    await expect(readIdxFile(tmp.path('bomb.idx.gz'))).rejects.toThrow(/bomb\.idx\.gz declares dims \[4\] of uint8 = 12 bytes, but decompresses to more: .*gzip bomb \(stopped after 12 bytes\)/);
  });

  it('reads a gzip file of exactly the declared size, and names one that ends early', async () => {
    writeFileSync(tmp.path('ok.idx.gz'), gzipSync(labels));
    expect([...(await readIdxFile(tmp.path('ok.idx.gz'))).data]).toEqual([1, 2, 3, 4]);
    writeFileSync(tmp.path('short.idx.gz'), gzipSync(labels.subarray(0, 10)));
    await expect(readIdxFile(tmp.path('short.idx.gz'))).rejects.toThrow(/short\.idx\.gz declares dims \[4\] of uint8 = 12 bytes, but decompresses to 10 bytes: it is truncated/);
    writeFileSync(tmp.path('head.idx.gz'), gzipSync(Buffer.from([0, 0, 8, 3, 0, 0])));
    await expect(readIdxFile(tmp.path('head.idx.gz'))).rejects.toThrow(/head\.idx\.gz is 6 bytes, shorter than its 16-byte header/);
    writeFileSync(tmp.path('magic.idx.gz'), gzipSync(Buffer.from([7, 7, 8, 1, 0, 0, 0, 1, 0])));
    await expect(readIdxFile(tmp.path('magic.idx.gz'))).rejects.toThrow(/magic\.idx\.gz has magic bytes 0x0707/);
  });

  it('refuses dims declaring more than maxFileBytes from the header, plain or gzip, and reads them under a raised cap', async () => {
    writeFileSync(tmp.path('l.idx'), labels);
    writeFileSync(tmp.path('l.idx.gz'), gzipSync(labels));
    for (const name of ['l.idx', 'l.idx.gz']) {
      await expect(readIdxFile(tmp.path(name), { maxFileBytes: 11 })).rejects.toThrow(
        new RegExp(`${name.replace('.', '\\.')} declares dims \\[4\\] of uint8 = 12 bytes, over the cap of 11 bytes per IDX file; .*raise "maxFileBytes"`),
      );
      expect((await readIdxFile(tmp.path(name), { maxFileBytes: 12 })).dims).toEqual([4]);
    }
    // 2^32-1 × 2^32-1 × 2^32-1 bytes: refused from its 16 bytes, whatever follows.
    writeFileSync(tmp.path('huge.idx'), idxBytes(0x08, [0xffffffff, 0xffffffff, 0xffffffff], new Uint8Array(8)));
    await expect(readIdxFile(tmp.path('huge.idx'))).rejects.toThrow(/huge\.idx declares dims \[4294967295, 4294967295, 4294967295\] .*over the cap of 1073741824 bytes/);
  });

  it('checks a plain file against its header by size, and readIdx passes the cap to both files', async () => {
    writeFileSync(tmp.path('img.idx'), idxBytes(0x08, [4, 2, 2], new Uint8Array(16)));
    writeFileSync(tmp.path('lab.idx'), labels);
    writeFileSync(tmp.path('long.idx'), Buffer.concat([labels, Buffer.alloc(3)]));
    await expect(readIdxFile(tmp.path('long.idx'))).rejects.toThrow(/long\.idx declares dims \[4\] of uint8 = 12 bytes, but has 15 bytes: it has trailing bytes/);
    expect((await collect(readIdx(tmp.path('img.idx'), tmp.path('lab.idx')))).records).toHaveLength(4);
    await expect(collect(readIdx(tmp.path('img.idx'), tmp.path('lab.idx'), { maxFileBytes: 20 }))).rejects.toThrow(/img\.idx declares .* = 32 bytes, over the cap of 20/);
  });
});

describe('.npy limits', () => {
  it('refuses a shape with a dimension that is not a whole number', () => {
    expect(() => parseNpy(npy('|u1', '-2, -3', Buffer.alloc(6)), 'neg.npy')).toThrow(/neg\.npy: \.npy shape \(-2, -3\) has dimension "-2", not a whole number/);
    expect(() => parseNpy(npy('|u1', '2.5, 2', Buffer.alloc(5)), 'frac.npy')).toThrow(/has dimension "2\.5"/);
    expect(parseNpy(npy('|u1', '2L, 2L', Buffer.alloc(4)), 'py2.npy').shape).toEqual([2, 2]);
  });

  it('reads a file within the cap; refuses a larger one by its size and one whose header lies about its size', async () => {
    writeFileSync(tmp.path('ok.npy'), npy('|u1', '2, 2', Buffer.from([1, 2, 3, 4])));
    expect([...(await readNpyFile(tmp.path('ok.npy'))).data]).toEqual([1, 2, 3, 4]);
    await expect(readNpyFile(tmp.path('ok.npy'), 100)).rejects.toThrow(/ok\.npy is 132 bytes, over the cap of 100 bytes; .*raise "maxRecordBytes"/);
    writeFileSync(tmp.path('lie.npy'), npy('|u1', '2, 2', Buffer.alloc(1000)));
    await expect(readNpyFile(tmp.path('lie.npy'))).rejects.toThrow(/lie\.npy: \.npy shape \(2, 2\) of \|u1 needs 4 data bytes, found 1000/);
    const big = Buffer.alloc(12);
    big.write('\x93NUMPY', 0, 'latin1');
    big[6] = 2;
    big.writeUInt32LE(0xfffffff0, 8);
    writeFileSync(tmp.path('head.npy'), Buffer.concat([big, Buffer.alloc(70_000)]));
    await expect(readNpyFile(tmp.path('head.npy'))).rejects.toThrow(/head\.npy: \.npy header declares 4294967280 bytes, more than the 65536/);
  });
});

describe('image headers and caps', () => {
  it('reads width and height from PNG and JPEG (baseline and progressive) headers', () => {
    expect(imageHeaderSize(pngHead(640, 480))).toEqual({ width: 640, height: 480, format: 'PNG' });
    expect(imageHeaderSize(jpegHead(0xc0, 1024, 768))).toEqual({ width: 1024, height: 768, format: 'JPEG' });
    expect(imageHeaderSize(jpegHead(0xc2, 65535, 3))).toEqual({ width: 65535, height: 3, format: 'JPEG' });
    expect(imageHeaderSize(Buffer.from('GIF89a'))).toBeUndefined();
    expect(imageHeaderSize(jpegHead(0xc0, 1, 1).subarray(0, 30))).toBeUndefined();
  });

  it('stops at a file over maxRecordBytes and a header over maxImagePixels before the decoder runs', async () => {
    const root = tmp.path('caps');
    for (const c of ['a', 'b']) mkdirSync(`${root}/${c}`, { recursive: true });
    writeFileSync(`${root}/a/small.png`, pngHead(100, 100));
    writeFileSync(`${root}/b/wide.jpg`, jpegHead(0xc0, 20_000, 20_000));
    const decoded: string[] = [];
    const decode = (_bytes: Uint8Array, path: string): ImageArray => {
      decoded.push(path);
      return { data: new Uint8Array(1), shape: [1, 1, 1] };
    };
    const decoders = { '.png': decode, '.jpg': decode };
    await expect(collect(readImageFolder(root, { decoders }))).rejects.toThrow(
      /Image b\/wide\.jpg declares 20000×20000 = 400000000 pixels in its JPEG header, over the cap of 40000000; .*raise "maxImagePixels"/,
    );
    expect(decoded).toEqual(['a/small.png']);
    expect((await collect(readImageFolder(root, { decoders, maxImagePixels: 400_000_000 }))).records).toHaveLength(2);
    await expect(collect(readImageFolder(root, { decoders, maxRecordBytes: 20 }))).rejects.toThrow(/Image file .*a\/small\.png is 33 bytes, over the cap of 20 bytes; .*raise "maxRecordBytes"/);
  });
});
