import { loadSafetensors, saveSafetensors, tf } from '@leantune/tensor';

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

/** Checkpoints are plain safetensors files (F32), readable by any safetensors tool. */
export const safetensorsStore: TensorStore = {
  extension: 'safetensors',
  save: (path, tensors, metadata) => saveSafetensors(path, tensors, metadata),
  load: (path) => loadSafetensors(path),
};

export function defaultTensorStore(): TensorStore {
  return safetensorsStore;
}
