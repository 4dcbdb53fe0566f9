import type { DataRecord, StageReport } from '@leantune/core';
import { isImageArray } from '@leantune/data';
import type { QuantizeMode } from './quantize';

export const PACK_FORMAT = 'leantune-pack';
export const PACK_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const CARD_FILE = 'README.md';

export const COMPRESSIONS = ['gzip', 'brotli', 'none'] as const;
export type Compression = (typeof COMPRESSIONS)[number];

export interface ShardEntry {
  /** Path relative to the pack folder; the name is the sha256 of the file's bytes. */
  file: string;
  sha256: string;
  /** Size of the file as written (compressed). */
  bytes: number;
  /** Size before compression. */
  rawBytes: number;
  records: number;
}

export interface FieldSchema {
  type: string;
  /** Records that have the field. */
  present: number;
}

export interface PackSchema {
  fields: Record<string, FieldSchema>;
  meta: Record<string, FieldSchema>;
  /** Image shape when every image has the same one, else 'mixed'; dtype lists every array type seen. */
  image?: { shape: number[] | 'mixed'; dtype: string };
}

export interface PackManifest {
  format: typeof PACK_FORMAT;
  version: number;
  name: string;
  labels?: string[];
  compression: Compression;
  level: number;
  quantize: QuantizeMode;
  counts: { records: number; lines: number; labels: Record<string, number>; splits?: Record<string, number> };
  schema: PackSchema;
  shards: ShardEntry[];
  totals: { bytes: number; rawBytes: number };
  quantization: { arrays: number; maxAbsError: number };
  /** The stage reports the dataset carried when packed (its provenance). */
  reports: StageReport[];
}

function typeName(value: unknown): string {
  if (ArrayBuffer.isView(value)) return value.constructor.name;
  if (Array.isArray(value)) return 'array';
  if (isImageArray(value)) return 'image';
  return value === null ? 'null' : typeof value;
}

function note(into: Record<string, FieldSchema>, key: string, value: unknown): void {
  const t = typeName(value);
  const f = into[key];
  if (!f) into[key] = { type: t, present: 1 };
  else {
    f.present++;
    if (!f.type.split('|').includes(t)) f.type = `${f.type}|${t}`;
  }
}

/** What fields the records have, with their types and how many records have each. */
export function inferSchema(records: readonly DataRecord[]): PackSchema {
  const schema: PackSchema = { fields: {}, meta: {} };
  let shape: number[] | 'mixed' | undefined;
  let dtype = '';
  for (const r of records) {
    for (const [key, value] of Object.entries(r)) if (key !== 'meta' && value !== undefined) note(schema.fields, key, value);
    for (const [key, value] of Object.entries(r.meta ?? {})) if (value !== undefined) note(schema.meta, key, value);
    if (isImageArray(r.image)) {
      const s = r.image.shape;
      if (shape === undefined) shape = [...s];
      else if (shape !== 'mixed' && shape.join('x') !== s.join('x')) shape = 'mixed';
      const name = r.image.data.constructor.name;
      if (!dtype.split('|').includes(name)) dtype = dtype ? `${dtype}|${name}` : name;
    }
  }
  if (shape !== undefined) schema.image = { shape, dtype };
  return schema;
}
