import { endianness } from 'node:os';
import type { DataRecord } from '@leantune/core';
import { decodeArray, dtypeOf, encodeArray, type BlobInfo, type QuantizeMode, type StoredArray } from './quantize';

/** First bytes of every (uncompressed) shard, so a wrong file is told apart from a damaged one. */
export const SHARD_MAGIC = 'LTSHARD1\n';

/** One line of a shard: the record plus which splits it belongs to. */
export interface PackedRecord {
  record: DataRecord;
  splits?: string[];
  /** false when the record is only in a split, not in dataset.records. */
  inRecords?: boolean;
}

interface ShardHeader {
  records: unknown[];
  blobs: BlobInfo[];
}

export interface EncodedShard {
  payload: Buffer;
  arrays: number;
  maxAbsError: number;
}

if (endianness() !== 'LE') throw new Error('@leantune/plugin-data-compress stores arrays little-endian and needs a little-endian machine');

/**
 * A shard is: magic, one JSON line (records with every typed array replaced by
 * {"$blob": i}, and the blob table), then the arrays' bytes back to back. Arrays stay
 * binary so the compressor sees raw pixels, not base64 text.
 */
export function encodeShard(items: readonly PackedRecord[], quantize: QuantizeMode): EncodedShard {
  const blobs: BlobInfo[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  let maxAbsError = 0;
  const walk = (value: unknown): unknown => {
    if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
      if (!dtypeOf(value)) throw new Error(`Cannot pack a ${value.constructor.name}: supported typed arrays are (u)int8/16/32, float32 and float64`);
      const enc = encodeArray(value as StoredArray, quantize);
      blobs.push({ ...enc.info, offset });
      chunks.push(enc.bytes);
      offset += enc.bytes.byteLength;
      maxAbsError = Math.max(maxAbsError, enc.maxAbsError);
      return { $blob: blobs.length - 1 };
    }
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, walk(v)]));
    return value;
  };
  const records = items.map((item) => {
    const line = walk(item.record) as Record<string, unknown>;
    if (item.splits?.length) line.$splits = item.splits;
    if (item.inRecords === false) line.$inRecords = false;
    return line;
  });
  const header = Buffer.from(`${SHARD_MAGIC}${JSON.stringify({ records, blobs } satisfies ShardHeader)}\n`, 'utf8');
  return { payload: Buffer.concat([header, ...chunks]), arrays: blobs.length, maxAbsError };
}

/** Inverse of encodeShard; `where` names the shard in errors. */
export function decodeShard(payload: Buffer, where: string): PackedRecord[] {
  if (payload.subarray(0, SHARD_MAGIC.length).toString('utf8') !== SHARD_MAGIC) {
    throw new Error(`${where}: not a leantune shard (bad magic); the file was replaced or damaged`);
  }
  const end = payload.indexOf(0x0a, SHARD_MAGIC.length);
  if (end < 0) throw new Error(`${where}: shard header is cut off; the file is truncated`);
  let header: ShardHeader;
  try {
    header = JSON.parse(payload.subarray(SHARD_MAGIC.length, end).toString('utf8')) as ShardHeader;
  } catch (err) {
    throw new Error(`${where}: shard header is not valid JSON (${(err as Error).message})`, { cause: err });
  }
  const body = payload.subarray(end + 1);
  const arrays = header.blobs.map((info, i) => {
    if (info.offset + info.bytes > body.length) throw new Error(`${where}: array #${i} ends at byte ${info.offset + info.bytes} but the shard body has ${body.length}; the file is truncated`);
    return decodeArray(info, body.subarray(info.offset, info.offset + info.bytes));
  });
  const walk = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(walk);
    if (value && typeof value === 'object') {
      const obj = value as Record<string, unknown>;
      if (typeof obj.$blob === 'number' && Object.keys(obj).length === 1) return arrays[obj.$blob];
      return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, walk(v)]));
    }
    return value;
  };
  return header.records.map((raw) => {
    const { $splits, $inRecords, ...rest } = raw as Record<string, unknown>;
    const item: PackedRecord = { record: walk(rest) as DataRecord };
    if (Array.isArray($splits)) item.splits = $splits as string[];
    if ($inRecords === false) item.inRecords = false;
    return item;
  });
}
