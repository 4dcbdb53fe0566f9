import { createHash } from 'node:crypto';
import type { DataRecord } from '@leantune/core';
import { isImageArray } from './records';

/**
 * A key equal for two records exactly when their content is the same: the text with runs of
 * whitespace made one space (case kept), or the image's shape and a SHA-1 of its pixels.
 * Undefined for a record with neither. Labels and ids are not part of the key, so equal keys
 * with different labels are conflicts.
 */
export function contentKey(record: DataRecord): string | undefined {
  if (typeof record.text === 'string') return `text:${record.text.replace(/\s+/g, ' ').trim()}`;
  if (isImageArray(record.image)) {
    const { data, shape } = record.image;
    const digest = createHash('sha1').update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength)).digest('hex');
    return `image:${data.constructor.name}:${shape.join('x')}:${digest}`;
  }
  return undefined;
}
