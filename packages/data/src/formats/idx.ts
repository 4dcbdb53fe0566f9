import { makeRecord, type ImageArray } from '../records';
import type { ReadItem } from '../read';
import { createReadStream, promises as fs } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { assertReadableFile, readSlice, sourceName, startsWithGzipMagic } from './open';

/** IDX element types (yann.lecun.com/exdb/mnist): type code → element size in bytes. */
const IDX_TYPES: Record<number, { name: string; bytes: number }> = {
  0x08: { name: 'uint8', bytes: 1 },
  0x09: { name: 'int8', bytes: 1 },
  0x0b: { name: 'int16', bytes: 2 },
  0x0c: { name: 'int32', bytes: 4 },
  0x0d: { name: 'float32', bytes: 4 },
  0x0e: { name: 'float64', bytes: 8 },
};

export interface IdxArray {
  dtype: string;
  dims: number[];
  /** Element values, big-endian decoded; uint8 data is a view on the file bytes. */
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

/** The largest IDX file read when no cap is set, decompressed: above MNIST-sized sets, below what exhausts memory. */
export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024 * 1024;

interface IdxHeader {
  type: { name: string; bytes: number };
  dims: number[];
  headerBytes: number;
  /** Header plus data, as the dims declare. */
  expected: number;
}

/** The header at the start of `buf` (magic, element type, dims), or an error naming the file. */
function idxHeader(buf: Buffer, path: string): IdxHeader {
  if (buf.length < 4) throw new Error(`IDX file ${path} is ${buf.length} bytes, too short for the 4-byte magic number; the file is truncated or not IDX`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    throw new Error(`IDX file ${path} has magic bytes 0x${buf.readUInt16BE(0).toString(16).padStart(4, '0')}, expected 0x0000 then a type code; it is not an IDX file (or still compressed)`);
  }
  const type = IDX_TYPES[buf[2]];
  if (!type) throw new Error(`IDX file ${path} has unknown element type code 0x${buf[2].toString(16)} (known: 08 ubyte, 09 byte, 0b short, 0c int, 0d float, 0e double)`);
  const ndims = buf[3];
  if (ndims === 0) throw new Error(`IDX file ${path} declares 0 dimensions`);
  const headerBytes = 4 + 4 * ndims;
  if (buf.length < headerBytes) throw new Error(`IDX file ${path} is ${buf.length} bytes, shorter than its ${headerBytes}-byte header for ${ndims} dimensions; the file is truncated`);
  const dims = Array.from({ length: ndims }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  // A float: past 2^53 it is inexact, but by then it is far over any cap it is compared with.
  const expected = headerBytes + dims.reduce((a, b) => a * b, 1) * type.bytes;
  return { type, dims, headerBytes, expected };
}

const declared = (h: IdxHeader, path: string) => `IDX file ${path} declares dims [${h.dims.join(', ')}] of ${h.type.name} = ${h.expected} bytes`;

/** Refuses a header whose dims declare more than `maxBytes`, before anything of that size is held. */
function checkDeclaredSize(h: IdxHeader, path: string, maxBytes: number): void {
  if (h.expected > maxBytes) {
    throw new Error(`${declared(h, path)}, over the cap of ${maxBytes} bytes per IDX file; if the file really is this large, raise "maxFileBytes" in the config's data section`);
  }
}

/**
 * Parses an IDX buffer, checking the magic number and that the dimensions match the byte
 * count exactly, so a truncated download fails here with sizes instead of as garbage later.
 */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = idxHeader(buf, path);
  const { type, dims, headerBytes, expected } = header;
  if (buf.length !== expected) {
    const what = buf.length < expected ? 'is truncated (download it again)' : 'has trailing bytes (not a valid IDX file)';
    throw new Error(`${declared(header, path)}, but has ${buf.length} bytes: it ${what}`);
  }
  const count = (expected - headerBytes) / type.bytes;
  const body = buf.subarray(headerBytes);
  if (type.name === 'uint8') return { dtype: type.name, dims, data: new Uint8Array(body.buffer, body.byteOffset, count) };
  if (type.name === 'int8') return { dtype: type.name, dims, data: new Int8Array(body.buffer, body.byteOffset, count) };
  // Wider types are big-endian in IDX; decode through a DataView rather than trusting host order.
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const readers = {
    int16: [Int16Array, (i: number) => view.getInt16(i * 2)],
    int32: [Int32Array, (i: number) => view.getInt32(i * 4)],
    float32: [Float32Array, (i: number) => view.getFloat32(i * 4)],
    float64: [Float64Array, (i: number) => view.getFloat64(i * 8)],
  } as const;
  const [Ctor, read] = readers[type.name as keyof typeof readers];
  const data = new Ctor(count);
  for (let i = 0; i < count; i++) data[i] = read(i);
  return { dtype: type.name, dims, data };
}

export interface IdxReadOptions {
  /**
   * Largest IDX file, decompressed, in bytes: dims declaring more are refused from the header,
   * and a gzip file is decompressed only up to what its dims declare. Default
   * DEFAULT_MAX_FILE_BYTES (1 GiB); the data section's `maxFileBytes` sets it.
   */
  maxFileBytes?: number;
}

/** The longest IDX header: 4 bytes, then 4 per dimension, at most 255 of them. */
const MAX_IDX_HEADER = 4 + 4 * 255;

/**
 * The decompressed bytes of a gzip IDX file, never more than its header declares: the header
 * is read first, its size checked against `maxBytes`, then the output goes into a buffer of
 * exactly that size and the stream stops at the first byte past it (a gzip bomb).
 */
async function gunzipIdx(path: string, maxBytes: number): Promise<Buffer> {
  const input = createReadStream(path).pipe(createGunzip());
  let pending = Buffer.alloc(0);
  let header: IdxHeader | undefined;
  let out: Buffer | undefined;
  let filled = 0;
  try {
    for await (let chunk of input as AsyncIterable<Buffer>) {
      if (!out) {
        pending = Buffer.concat([pending, chunk]);
        if (pending.length < 4 || pending.length < 4 + 4 * pending[3]) continue;
        header = idxHeader(pending, path);
        checkDeclaredSize(header, path, maxBytes);
        out = Buffer.allocUnsafe(header.expected);
        chunk = pending;
      }
      if (filled + chunk.length > out.length) {
        throw new Error(`${declared(header!, path)}, but decompresses to more: it has trailing bytes or is a gzip bomb (stopped after ${out.length} bytes)`);
      }
      chunk.copy(out, filled);
      filled += chunk.length;
    }
  } catch (err) {
    if (String((err as NodeJS.ErrnoException).code).startsWith('Z_')) {
      throw new Error(`IDX file ${path} is gzip but could not be decompressed (${(err as Error).message}); it is probably truncated, download it again`);
    }
    throw err;
  } finally {
    input.destroy();
  }
  if (!out) idxHeader(pending, path); // throws: the stream ended inside the header
  if (filled < out!.length) throw new Error(`${declared(header!, path)}, but decompresses to ${filled} bytes: it is truncated (download it again)`);
  return out!;
}

/**
 * Reads an IDX file, plain or gzip (detected by its magic bytes, whatever the extension),
 * holding at most what its header declares, and refusing a header that declares more than
 * `maxFileBytes`. A plain file's size is checked against its header before its body is read.
 */
export async function readIdxFile(path: string, options: IdxReadOptions = {}): Promise<IdxArray> {
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  await assertReadableFile(path, 'IDX');
  if (await startsWithGzipMagic(path)) return parseIdx(await gunzipIdx(path, maxBytes), path);
  const header = idxHeader(await readSlice(path, 0, MAX_IDX_HEADER), path);
  checkDeclaredSize(header, path, maxBytes);
  const { size } = await fs.stat(path);
  if (size !== header.expected) {
    const what = size < header.expected ? 'is truncated (download it again)' : 'has trailing bytes (not a valid IDX file)';
    throw new Error(`${declared(header, path)}, but has ${size} bytes: it ${what}`);
  }
  return parseIdx(await fs.readFile(path), path);
}

export interface IdxPairOptions extends IdxReadOptions {
  /** Names for label values, e.g. Fashion-MNIST's class names; default String(value). */
  labelNames?: readonly string[];
}

/**
 * Images + labels IDX files (the MNIST layout) as records with a uint8 HW1 image and a
 * string label. Errors, not skips, when the files disagree: a mismatch is a wrong file.
 */
export async function* readIdx(imagesPath: string, labelsPath: string, options: IdxPairOptions = {}): AsyncGenerator<ReadItem> {
  const images = await readIdxFile(imagesPath, options);
  const labels = await readIdxFile(labelsPath, options);
  if (images.dtype !== 'uint8' || (images.dims.length !== 3 && images.dims.length !== 4)) {
    throw new Error(`IDX images ${imagesPath} must be uint8 with dims [n, h, w] or [n, h, w, c] (got ${images.dtype} [${images.dims.join(', ')}])`);
  }
  if (labels.dims.length !== 1 || (labels.dtype !== 'uint8' && labels.dtype !== 'int8')) {
    throw new Error(`IDX labels ${labelsPath} must be a 1-d byte array (got ${labels.dtype} [${labels.dims.join(', ')}])`);
  }
  const [n, h, w, c = 1] = images.dims;
  if (labels.dims[0] !== n) throw new Error(`IDX files disagree: ${imagesPath} has ${n} images but ${labelsPath} has ${labels.dims[0]} labels`);
  const source = sourceName(imagesPath);
  const size = h * w * c;
  for (let i = 0; i < n; i++) {
    const value = labels.data[i];
    const names = options.labelNames;
    if (names && (value < 0 || value >= names.length)) {
      throw new Error(`IDX labels ${labelsPath}: row ${i} has label ${value}, outside the ${names.length} label names given`);
    }
    const image: ImageArray = { data: (images.data as Uint8Array).subarray(i * size, (i + 1) * size), shape: [h, w, c] };
    yield { record: makeRecord({ image, label: names ? names[value] : String(value) }, { source, row: i }) };
  }
}
