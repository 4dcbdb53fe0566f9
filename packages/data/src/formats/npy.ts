import { promises as fs } from 'node:fs';
import type { ImageArray } from '../records';
import { DEFAULT_MAX_RECORD_BYTES } from './fields';
import { fileSizeWithin, readSlice } from './open';

const NPY_MAGIC = '\x93NUMPY';

/** dtype descr → typed array maker (little-endian and byte types: what numpy writes on x86/arm). */
const DTYPES: Record<string, { bytes: number; make: (buf: ArrayBuffer, n: number) => Uint8Array | Float32Array | Float64Array }> = {
  '|u1': { bytes: 1, make: (b, n) => new Uint8Array(b, 0, n) },
  '<f4': { bytes: 4, make: (b, n) => new Float32Array(b, 0, n) },
  '<f8': { bytes: 8, make: (b, n) => new Float64Array(b, 0, n) },
};

export interface NpyArray {
  dtype: string;
  shape: number[];
  data: Uint8Array | Float32Array | Float64Array;
}

interface NpyHeader {
  descr: string;
  shape: number[];
  count: number;
  /** Where the data starts, and the exact file size the header declares. */
  dataStart: number;
  expected: number;
}

/**
 * The header of a .npy file (format versions 1–3) holding uint8, float32 or float64 in C
 * order, from the file's first bytes. The header is a Python dict literal; we read its three
 * keys with patterns instead of evaluating it. Every dimension must be a whole number.
 */
function npyHeader(buf: Buffer, path: string): NpyHeader {
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== NPY_MAGIC) throw new Error(`${path} is not a .npy file (missing the \\x93NUMPY magic)`);
  const major = buf[6];
  const headerLenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = 8 + headerLenBytes;
  if (buf.length < start + headerLen) throw new Error(`${path}: .npy header says ${headerLen} bytes but the file ends first; it is truncated`);
  const header = buf.toString(major >= 3 ? 'utf8' : 'latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${path}: unreadable .npy header ${JSON.stringify(header.trim().slice(0, 200))}`);
  const type = DTYPES[descr];
  if (!type) throw new Error(`${path}: .npy dtype ${descr} is not supported; save as uint8 (|u1), float32 (<f4) or float64 (<f8)`);
  if (fortran === 'True') throw new Error(`${path}: Fortran-order .npy arrays are not supported; save with np.ascontiguousarray`);
  const parts = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = parts.find((s) => !/^\d{1,15}L?$/.test(s));
  if (bad !== undefined) throw new Error(`${path}: .npy shape (${shapeText}) has dimension "${bad}", not a whole number; the header is corrupt`);
  const shape = parts.map((s) => parseInt(s, 10));
  const count = shape.reduce((a, b) => a * b, 1);
  return { descr, shape, count, dataStart: start + headerLen, expected: start + headerLen + count * type.bytes };
}

/** The error for a file whose size is not what its header declares. */
function sizeMismatch(h: NpyHeader, path: string, dataBytes: number): Error {
  return new Error(`${path}: .npy shape (${h.shape.join(', ')}) of ${h.descr} needs ${h.expected - h.dataStart} data bytes, found ${dataBytes}; the file is truncated or corrupt`);
}

/** Parses a whole .npy file's bytes (see npyHeader for what is read). */
export function parseNpy(bytes: Uint8Array, path: string): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const h = npyHeader(buf, path);
  const body = buf.subarray(h.dataStart);
  if (buf.length !== h.expected) throw sizeMismatch(h, path, body.length);
  // Copy into a fresh, aligned buffer: typed-array views need offsets aligned to the element size.
  const aligned = new ArrayBuffer(body.length);
  new Uint8Array(aligned).set(body);
  return { dtype: h.descr, shape: h.shape, data: DTYPES[h.descr].make(aligned, h.count) };
}

/** The most of a .npy file read to find its header: numpy pads headers to 64 bytes, they stay short. */
const NPY_HEADER_READ = 64 * 1024;

/**
 * Reads a .npy file of at most `maxBytes` (stat first), checking that its header's shape ×
 * dtype size accounts for exactly the rest of the file before the body is read, so neither
 * a huge file nor a header that lies costs more than its first bytes.
 */
export async function readNpyFile(path: string, maxBytes: number = DEFAULT_MAX_RECORD_BYTES): Promise<NpyArray> {
  const size = await fileSizeWithin(path, '.npy', maxBytes, 'maxRecordBytes');
  const head = await readSlice(path, 0, Math.min(size, NPY_HEADER_READ));
  const headerLen = head.length >= 12 && head.toString('latin1', 0, 6) === NPY_MAGIC && head[6] !== 1 ? head.readUInt32LE(8) : 0;
  if (12 + headerLen > NPY_HEADER_READ) throw new Error(`${path}: .npy header declares ${headerLen} bytes, more than the ${NPY_HEADER_READ} a header is read for; the file is corrupt`);
  const h = npyHeader(head, path);
  if (size !== h.expected) throw sizeMismatch(h, path, size - h.dataStart);
  return parseNpy(await fs.readFile(path), path);
}

/** A .npy image: [h, w] or [h, w, c]. */
export function npyToImage(array: NpyArray, path: string): ImageArray {
  const { shape } = array;
  if (shape.length === 2) return { data: array.data, shape: [shape[0], shape[1], 1] };
  if (shape.length === 3) return { data: array.data, shape: [shape[0], shape[1], shape[2]] };
  throw new Error(`${path}: an image .npy must have shape (h, w) or (h, w, c), got (${shape.join(', ')})`);
}
