import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { saveSafetensors, type tf } from '@leantune/tensor';

/** Writes via a temp file and a rename, so a reader never sees a half-written file. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, file);
  } catch (err) {
    // A failed write (disk full) must not leave its temp file behind.
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeJson(file: string, value: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** saveSafetensors through a temp file and a rename, like writeFileAtomic. */
export function saveSafetensorsAtomic(file: string, tensors: Map<string, tf.Tensor>, metadata?: Record<string, string>): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    saveSafetensors(tmp, tensors, metadata);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
