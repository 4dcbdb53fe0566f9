import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';

/**
 * Writes through a temp file in the same folder, then renames: a reader (or a crash) sees
 * either the old file or the complete new one, never a partial write.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, path);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}
