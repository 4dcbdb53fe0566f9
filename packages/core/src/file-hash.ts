import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';

/** The sha256 (hex) of a file, read in 1 MiB chunks so a large file never sits in memory whole. */
export function sha256File(file: string): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(1 << 20);
  const fd = openSync(file, 'r');
  try {
    for (let n = readSync(fd, chunk, 0, chunk.length, null); n > 0; n = readSync(fd, chunk, 0, chunk.length, null)) hash.update(chunk.subarray(0, n));
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}
