import * as tf from '@tensorflow/tfjs-core';
import { DTYPE_BYTES, dtypeRank, FloatStorageDtype, storageDtype, tensorFromBytes, tensorToBytes } from './dtypes';
import { buildHeader, headerLengthFrom, METADATA_KEY, parseHeaderBytes, SafetensorsTensorInfo } from './header';

export type TensorDict = Map<string, tf.Tensor> | Record<string, tf.Tensor>;

export interface SaveSafetensorsOptions {
  /** How float32 tensors are stored; default F32. int32 is always I32, bool BOOL. */
  dtype?: FloatStorageDtype;
}

export interface LoadedSafetensors {
  tensors: Map<string, tf.Tensor>;
  metadata: Record<string, string>;
}

/** A serialization plan: the header bytes plus each tensor's slot, in data order. */
export interface SafetensorsPlan {
  header: Uint8Array;
  entries: Array<{ name: string; tensor: tf.Tensor; info: SafetensorsTensorInfo }>;
  totalBytes: number;
}

/**
 * Lays out tensors as the reference writer does: by dtype in descending enum order (wider
 * types first, so every tensor stays aligned to its element size), then by name.
 */
export function planSafetensors(
  tensors: TensorDict,
  metadata?: Record<string, string>,
  options: SaveSafetensorsOptions = {},
): SafetensorsPlan {
  const floatDtype = options.dtype ?? 'F32';
  if (!['F32', 'F16', 'BF16'].includes(floatDtype)) {
    throw new Error(`saveSafetensors: options.dtype "${floatDtype}" must be F32, F16 or BF16`);
  }
  for (const [key, value] of Object.entries(metadata ?? {})) {
    if (typeof value !== 'string') throw new Error(`saveSafetensors: metadata "${key}" must be a string, got ${typeof value}`);
  }
  const items = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const typed = items.map(([name, tensor]) => {
    if (name === METADATA_KEY) throw new Error(`saveSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    if (tensor.isDisposed) throw new Error(`saveSafetensors: tensor "${name}" is disposed`);
    return { name, tensor, dtype: storageDtype(tensor, floatDtype, name) };
  });
  typed.sort((a, b) => dtypeRank(b.dtype) - dtypeRank(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let offset = 0;
  const entries = typed.map(({ name, tensor, dtype }) => {
    const begin = offset;
    offset += tensor.size * DTYPE_BYTES[dtype];
    return { name, tensor, info: { dtype, shape: [...tensor.shape], begin, end: offset } };
  });
  const header = buildHeader(
    entries.map((e) => [e.name, e.info]),
    metadata,
  );
  return { header, entries, totalBytes: header.length + offset };
}

/** The whole safetensors file as bytes. */
export function encodeSafetensors(
  tensors: TensorDict,
  metadata?: Record<string, string>,
  options?: SaveSafetensorsOptions,
): Uint8Array {
  const plan = planSafetensors(tensors, metadata, options);
  const out = new Uint8Array(plan.totalBytes);
  out.set(plan.header, 0);
  for (const { tensor, info } of plan.entries) out.set(tensorToBytes(tensor, info.dtype), plan.header.length + info.begin);
  return out;
}

/** Decodes a whole safetensors file held in memory; `source` names it in errors. */
export function decodeSafetensors(bytes: Uint8Array, source = '<safetensors bytes>'): LoadedSafetensors {
  const headerLength = headerLengthFrom(bytes.subarray(0, 8), bytes.length, source);
  const dataStart = 8 + headerLength;
  const header = parseHeaderBytes(bytes.subarray(8, dataStart), bytes.length - dataStart, source);
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, info] of header.tensors) {
      // A private copy: tfjs keeps the typed array it is given, which must not alias `bytes`.
      const copy = new Uint8Array(info.end - info.begin);
      copy.set(bytes.subarray(dataStart + info.begin, dataStart + info.end));
      tensors.set(name, tensorFromBytes(copy, info.dtype, info.shape, () => `${source}: tensor "${name}"`));
    }
  } catch (err) {
    tensors.forEach((t) => t.dispose());
    throw err;
  }
  return { tensors, metadata: header.metadata };
}
