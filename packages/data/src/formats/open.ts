import { createReadStream, promises as fs } from 'node:fs';
import { basename } from 'node:path';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';

const GZIP_MAGIC = [0x1f, 0x8b];

/** The name records cite as their source: the file name, not the full path. */
export const sourceName = (path: string): string => basename(path);

export async function startsWithGzipMagic(path: string): Promise<boolean> {
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

/**
 * The size of `path`, a regular file of at most `maxBytes` (checked with stat, before a byte
 * is read); a larger one fails naming the file, both sizes and `option`, which raises the cap.
 */
export async function fileSizeWithin(path: string, what: string, maxBytes: number, option: string): Promise<number> {
  await assertReadableFile(path, what);
  const { size } = await fs.stat(path);
  if (size > maxBytes) {
    throw new Error(`${what} file ${path} is ${size} bytes, over the cap of ${maxBytes} bytes; if the file really is this large, raise "${option}" in the config's data section`);
  }
  return size;
}

/** `length` bytes of `path` from `position` (fewer where the file ends first). */
export async function readSlice(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await fs.open(path, 'r');
  try {
    const out = Buffer.alloc(length);
    const { bytesRead } = await handle.read(out, 0, length, position);
    return out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** A read stream that transparently gunzips files that start with the gzip magic bytes. */
export async function openText(path: string, what: string): Promise<Readable> {
  await assertReadableFile(path, what);
  const raw = createReadStream(path);
  return (await startsWithGzipMagic(path)) ? raw.pipe(createGunzip()) : raw;
}

/**
 * The lines of a stream (split at \n, a trailing \r dropped), 1-based, each at most
 * `maxBytes`: a longer line throws `tooLong(line)` once it passes the cap, having held no
 * more than `maxBytes` of it (readline would hold the whole line, however long).
 */
export async function* readLines(input: Readable, maxBytes: number, tooLong: (line: number) => Error): AsyncGenerator<{ line: string; number: number }> {
  let parts: Buffer[] = [];
  let held = 0;
  let number = 0;
  const take = (tail: Buffer): string => {
    const bytes = parts.length ? Buffer.concat([...parts, tail]) : tail;
    parts = [];
    held = 0;
    const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
    return bytes.toString('utf8', 0, end);
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(0x0a); nl >= 0; nl = chunk.indexOf(0x0a, start)) {
        if (held + nl - start > maxBytes) throw tooLong(number + 1);
        number++;
        yield { line: take(chunk.subarray(start, nl)), number };
        start = nl + 1;
      }
      if (start < chunk.length) {
        held += chunk.length - start;
        if (held > maxBytes) throw tooLong(number + 1);
        parts.push(chunk.subarray(start));
      }
    }
    if (held > 0) yield { line: take(Buffer.alloc(0)), number: number + 1 };
  } finally {
    input.destroy();
  }
}
