import type { DataRecord, Provenance } from '@leantune/core';

/**
 * Pixels of one image, row-major HWC. `uint8` data is 0..255 (as stored in IDX files);
 * `float32` data is whatever the source stored (the `mnist` package stores 0..1).
 */
export interface ImageArray {
  data: Uint8Array | Float32Array | Float64Array;
  /** [height, width, channels]. */
  shape: [number, number, number];
}

/** What a dataset promises about its records; loaders and readers check rows against it. */
export interface RecordSchema {
  text?: 'required' | 'optional';
  image?: 'required' | 'optional';
  /** 'single': `label` on every record; 'multi': `labels` on every record; 'none': neither needed. */
  label?: 'single' | 'multi' | 'none';
}

/** A short, countable reason why a record breaks the schema, or undefined when it is fine. */
export function schemaViolation(record: DataRecord, schema: RecordSchema): string | undefined {
  if (schema.text === 'required' && (typeof record.text !== 'string' || record.text.trim() === '')) return 'missing-text';
  if (schema.image === 'required' && !isImageArray(record.image)) return 'missing-image';
  if (schema.label === 'single' && (record.label === undefined || record.label === '')) return 'missing-label';
  if (schema.label === 'multi' && !(Array.isArray(record.labels) && record.labels.length > 0)) return 'missing-labels';
  return undefined;
}

export function isImageArray(value: unknown): value is ImageArray {
  if (!value || typeof value !== 'object') return false;
  const { data, shape } = value as Partial<ImageArray>;
  return (
    (data instanceof Uint8Array || data instanceof Float32Array || data instanceof Float64Array) &&
    Array.isArray(shape) &&
    shape.length === 3 &&
    shape[0] * shape[1] * shape[2] === data.length
  );
}

/** Record ids are `<source name>:<row>` unless the source gives its own id. */
export function makeRecord(fields: Omit<DataRecord, 'id' | 'meta'> & { id?: string }, meta: Provenance): DataRecord {
  const { id, ...rest } = fields;
  const record: DataRecord = { id: id ?? `${meta.source}:${meta.row}`, meta };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) (record as unknown as Record<string, unknown>)[key] = value;
  }
  return record;
}

/** The label a record is stratified and counted by ('' when it has none). */
export function primaryLabel(record: DataRecord): string {
  if (record.label !== undefined) return String(record.label);
  if (record.labels && record.labels.length > 0) return String(record.labels[0]);
  return '';
}

/** Sorted distinct labels; numeric strings sort as numbers so '10' follows '9'. */
export function labelSet(records: readonly DataRecord[]): string[] {
  const seen = new Set<string>();
  for (const r of records) {
    if (r.label !== undefined) seen.add(String(r.label));
    for (const l of r.labels ?? []) seen.add(String(l));
  }
  return [...seen].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
}

/** Count of records per primary label ('' for unlabelled), keys in label order. */
export function labelCounts(records: readonly DataRecord[]): Record<string, number> {
  const counts = new Map<string, number>();
  for (const r of records) counts.set(primaryLabel(r), (counts.get(primaryLabel(r)) ?? 0) + 1);
  const keys = [...counts.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return Object.fromEntries(keys.map((k) => [k, counts.get(k)!]));
}
