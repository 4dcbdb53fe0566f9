// Builds safetensors bytes by hand, independent of the library's encoder, so tests of the
// reader do not trust the writer.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Little-endian u64 header length + header text + data, with an optional forged length. */
export function rawFile(header: string, data: number[] | Uint8Array, headerLength?: bigint): Uint8Array {
  const text = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(8 + text.length + data.length);
  out.writeBigUInt64LE(headerLength ?? BigInt(text.length), 0);
  text.copy(out, 8);
  Buffer.from(data).copy(out, 8 + text.length);
  return new Uint8Array(out);
}

/** A file with one tensor "t" of the given dtype, shape and raw little-endian bytes. */
export function singleTensorFile(dtype: string, shape: number[], bytes: number[]): Uint8Array {
  const header = JSON.stringify({ t: { dtype, shape, data_offsets: [0, bytes.length] } });
  return rawFile(header, bytes);
}

export function makeTempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'leantune-safetensors-'));
}
