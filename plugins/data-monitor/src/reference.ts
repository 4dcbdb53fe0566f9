import { promises as fs } from 'node:fs';
import type { DataRecord } from '@leantune/core';
import { shuffle } from '@leantune/data';
import { extractorFor, type FeatureExtractor, type FeatureSource } from './features';

export const REFERENCE_FORMAT = 'leantune-drift-reference';

interface ReferenceFile {
  format: typeof REFERENCE_FORMAT;
  version: 1;
  source: string;
  total: number;
  records: Array<{ id: string; label?: string | number; features: number[] }>;
}

/**
 * Saves a seeded sample of the reference data as feature vectors (and labels), so later data
 * can be compared without the original dataset. Compare with driftReport(loaded, current,
 * { features: <same source> }) — the loaded records carry `features`.
 */
export async function saveDriftReference(
  records: readonly DataRecord[],
  file: string,
  options: { features?: FeatureSource | FeatureExtractor; sampleSize?: number; seed?: number } = {},
): Promise<{ saved: number; total: number }> {
  const size = options.sampleSize ?? 2000;
  if (!Number.isInteger(size) || size < 1) throw new Error(`saveDriftReference: sampleSize must be a positive integer (got ${size})`);
  const source = options.features ?? (records[0]?.image !== undefined ? 'image' : 'text-stats');
  const extract = extractorFor(source);
  const sample = shuffle(records, options.seed ?? 0).slice(0, size);
  const body: ReferenceFile = {
    format: REFERENCE_FORMAT,
    version: 1,
    source: typeof source === 'function' ? 'custom' : source,
    total: records.length,
    records: sample.map((r) => ({ id: r.id, ...(r.label !== undefined ? { label: r.label } : {}), features: Array.from(extract(r)) })),
  };
  const tmp = `${file}.tmp-${process.pid}`;
  await fs.writeFile(tmp, JSON.stringify(body));
  await fs.rename(tmp, file);
  return { saved: sample.length, total: records.length };
}

/** Reads a reference written by saveDriftReference; records carry `features`, `source` says what they were extracted from. */
export async function loadDriftReference(file: string): Promise<{ records: DataRecord[]; source: string; total: number }> {
  let parsed: ReferenceFile;
  try {
    parsed = JSON.parse(await fs.readFile(file, 'utf8')) as ReferenceFile;
  } catch (err) {
    throw new Error(`Drift reference ${file} cannot be read (${(err as Error).message}); write one with saveDriftReference`, { cause: err });
  }
  if (parsed?.format !== REFERENCE_FORMAT || !Array.isArray(parsed.records)) {
    throw new Error(`${file} is not a drift reference (format ${JSON.stringify(parsed?.format)}, expected "${REFERENCE_FORMAT}")`);
  }
  const records = parsed.records.map((r, row) => ({ id: r.id, ...(r.label !== undefined ? { label: r.label } : {}), features: Float64Array.from(r.features), meta: { source: file, row } }) as DataRecord);
  return { records, source: parsed.source, total: parsed.total };
}
