import { createReadStream, promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { createGunzip, gunzipSync } from 'node:zlib';
import type { Readable } from 'node:stream';

const GZIP_MAGIC = [0x1f, 0x8b];

/** The name records cite as their source: the file name, not the full path. */
export const sourceName = (path: string): string => basename(path);

async function startsWithGzipMagic(path: string): Promise<boolean> {
  const handle = await fs.open(path, 'r');
  try {
    const head = Buffer.alloc(2);
    const { bytesRead } = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  } finally {
    await handle.close();
  }
}

/** Fails with the path and a hint, rather than node's bare ENOENT. */
export async function assertReadableFile(path: string, what: string): Promise<void> {
  let stat;
  try {
    stat = await fs.stat(path);
  } catch {
    throw new Error(`${what} file not found: ${path} (check the "path" option; relative paths resolve from the config's folder)`);
  }
  if (!stat.isFile()) throw new Error(`${what} path is not a file: ${path}`);
}

/** A read stream that transparently gunzips files that start with the gzip magic bytes. */
export async function openText(path: string, what: string): Promise<Readable> {
  await assertReadableFile(path, what);
  const raw = createReadStream(path);
  return (await startsWithGzipMagic(path)) ? raw.pipe(createGunzip()) : raw;
}

/** Whole file as bytes, gunzipped when gzip; a corrupt gzip names the file. */
export async function readBytes(path: string, what: string): Promise<Buffer> {
  await assertReadableFile(path, what);
  const bytes = await fs.readFile(path);
  if (bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1]) {
    try {
      return gunzipSync(bytes);
    } catch (err) {
      throw new Error(`${what} file ${path} is gzip but could not be decompressed (${(err as Error).message}); it is probably truncated, download it again`);
    }
  }
  return bytes;
}
