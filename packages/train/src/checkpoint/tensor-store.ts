import fs from 'node:fs';
import * as tensorPackage from '@leantune/tensor';
import { tf } from '@leantune/tensor';

export interface StoredTensors {
  tensors: Map<string, tf.Tensor>;
  metadata: Record<string, string>;
}

/** How checkpoint tensors reach the disk; swappable so tests or other formats can plug in. */
export interface TensorStore {
  /** File name extension, e.g. "safetensors". */
  readonly extension: string;
  save(path: string, tensors: Map<string, tf.Tensor>, metadata?: Record<string, string>): void | Promise<void>;
  load(path: string): StoredTensors | Promise<StoredTensors>;
}

type SaveFn = (path: string, tensors: Map<string, tf.Tensor>, metadata?: Record<string, string>) => void;
type LoadFn = (path: string) => StoredTensors;

const DTYPES: Record<string, { name: string; bytes: number }> = {
  float32: { name: 'F32', bytes: 4 },
  int32: { name: 'I32', bytes: 4 },
};

/**
 * A minimal safetensors writer/reader (F32 and I32 only), used only when @leantune/tensor
 * does not export its own: the files stay the same format either way.
 */
export const fallbackSafetensorsStore: TensorStore = {
  extension: 'safetensors',
  save(path, tensors, metadata = {}) {
    const header: Record<string, unknown> = { __metadata__: metadata };
    const chunks: Uint8Array[] = [];
    let offset = 0;
    for (const [name, t] of tensors) {
      const dtype = DTYPES[t.dtype];
      if (!dtype) throw new Error(`checkpoint tensor "${name}" has dtype ${t.dtype}; only float32 and int32 can be saved`);
      const data = t.dataSync() as Float32Array | Int32Array;
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      header[name] = { dtype: dtype.name, shape: t.shape, data_offsets: [offset, offset + bytes.length] };
      chunks.push(bytes);
      offset += bytes.length;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const headerBytes = Buffer.from(json, 'utf8');
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(headerBytes.length));
    fs.writeFileSync(path, Buffer.concat([prefix, headerBytes, ...chunks]));
  },
  load(path) {
    const buf = fs.readFileSync(path);
    if (buf.length < 8) throw new Error(`${path}: too short to be a safetensors file`);
    const headerLength = Number(buf.readBigUInt64LE(0));
    if (8 + headerLength > buf.length) throw new Error(`${path}: header length ${headerLength} exceeds the file; the file is truncated`);
    const header = JSON.parse(buf.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, unknown>;
    const start = 8 + headerLength;
    const tensors = new Map<string, tf.Tensor>();
    let metadata: Record<string, string> = {};
    for (const [name, info] of Object.entries(header)) {
      if (name === '__metadata__') {
        metadata = info as Record<string, string>;
        continue;
      }
      const { dtype, shape, data_offsets: [begin, end] } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
      if (start + end > buf.length) throw new Error(`${path}: tensor "${name}" ends past the end of the file; the file is truncated`);
      const raw = buf.buffer.slice(buf.byteOffset + start + begin, buf.byteOffset + start + end);
      if (dtype === 'F32') tensors.set(name, tf.tensor(new Float32Array(raw), shape, 'float32'));
      else if (dtype === 'I32') tensors.set(name, tf.tensor(new Int32Array(raw), shape, 'int32'));
      else throw new Error(`${path}: tensor "${name}" has dtype ${dtype}; this reader handles F32 and I32`);
    }
    return { tensors, metadata };
  },
};

/** The store checkpoints use unless told otherwise: @leantune/tensor's safetensors when exported. */
export function defaultTensorStore(): TensorStore {
  const pkg = tensorPackage as unknown as { saveSafetensors?: SaveFn; loadSafetensors?: LoadFn };
  const save = pkg.saveSafetensors;
  const load = pkg.loadSafetensors;
  if (!save || !load) return fallbackSafetensorsStore;
  return { extension: 'safetensors', save: (p, t, m) => save(p, t, m), load: (p) => load(p) };
}
