import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import type { Compression } from './manifest';

const gzip = promisify(zlib.gzip);
const gunzip = promisify(zlib.gunzip);
const brotli = promisify(zlib.brotliCompress);
const unbrotli = promisify(zlib.brotliDecompress);

/** zlib's own defaults: gzip 6; brotli 11 is very slow on images, so 6 here. */
export const DEFAULT_LEVEL: Record<Compression, number> = { gzip: 6, brotli: 6, none: 0 };
const LEVEL_RANGE: Record<Compression, [number, number]> = { gzip: [0, 9], brotli: [0, 11], none: [0, 0] };

export function checkLevel(compression: Compression, level: number): void {
  const [lo, hi] = LEVEL_RANGE[compression];
  if (!Number.isInteger(level) || level < lo || level > hi) {
    throw new Error(`packDataset: level for ${compression} must be an integer in [${lo}, ${hi}] (got ${level})`);
  }
}

export function compress(data: Buffer, compression: Compression, level: number): Promise<Buffer> {
  if (compression === 'gzip') return gzip(data, { level });
  if (compression === 'brotli') {
    return brotli(data, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: level, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length } });
  }
  return Promise.resolve(data);
}

/**
 * Decompresses at most `maxBytes` (the size the manifest declares): zlib stops and fails with
 * ERR_BUFFER_TOO_LARGE as soon as the output passes it, so a bomb costs `maxBytes`, not its
 * full size.
 */
export function decompress(data: Buffer, compression: Compression, maxBytes: number): Promise<Buffer> {
  const maxOutputLength = Math.max(1, maxBytes);
  if (compression === 'gzip') return gunzip(data, { maxOutputLength });
  if (compression === 'brotli') return unbrotli(data, { maxOutputLength });
  return Promise.resolve(data);
}

export const SHARD_EXTENSION: Record<Compression, string> = { gzip: '.ltshard.gz', brotli: '.ltshard.br', none: '.ltshard' };
