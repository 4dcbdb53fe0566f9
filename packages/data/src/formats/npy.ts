import type { ImageArray } from '../records';

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

/**
 * Parses a .npy file (format versions 1–3) holding uint8, float32 or float64 in C order.
 * The header is a Python dict literal; we read its three keys with patterns instead of
 * evaluating it.
 */
export function parseNpy(bytes: Uint8Array, path: string): NpyArray {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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
  if (!descr || !fortran || shapeText === undefined) throw new Error(`${path}: unreadable .npy header ${JSON.stringify(header.trim())}`);
  const type = DTYPES[descr];
  if (!type) throw new Error(`${path}: .npy dtype ${descr} is not supported; save as uint8 (|u1), float32 (<f4) or float64 (<f8)`);
  if (fortran === 'True') throw new Error(`${path}: Fortran-order .npy arrays are not supported; save with np.ascontiguousarray`);
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const body = buf.subarray(start + headerLen);
  if (body.length !== count * type.bytes) {
    throw new Error(`${path}: .npy shape (${shape.join(', ')}) of ${descr} needs ${count * type.bytes} data bytes, found ${body.length}; the file is truncated or corrupt`);
  }
  // Copy into a fresh, aligned buffer: typed-array views need offsets aligned to the element size.
  const aligned = new ArrayBuffer(body.length);
  new Uint8Array(aligned).set(body);
  return { dtype: descr, shape, data: type.make(aligned, count) };
}

/** A .npy image: [h, w] or [h, w, c]. */
export function npyToImage(array: NpyArray, path: string): ImageArray {
  const { shape } = array;
  if (shape.length === 2) return { data: array.data, shape: [shape[0], shape[1], 1] };
  if (shape.length === 3) return { data: array.data, shape: [shape[0], shape[1], shape[2]] };
  throw new Error(`${path}: an image .npy must have shape (h, w) or (h, w, c), got (${shape.join(', ')})`);
}
