import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, errorMessage } from '@leantune/core';
import type { ResolvedConfig } from '@leantune/core';
import type { DataRecord, Dataset } from '@leantune/core';

/** splits.json in a run folder: exactly which records each split of the run held. */
export const SPLIT_RECORD_FILE = 'splits.json';

export interface SplitRecord {
  format: 'leantune-splits';
  version: 1;
  dataset: string;
  /** The run seed (runtime.seed); a split stage without its own seed uses it. */
  seed: number;
  /** The dataset section the split came from: loader options and every stage's options (fractions, split seed). */
  data: ResolvedConfig['data'];
  counts: Record<string, number>;
  /** Record ids per split, in the order the run used them. */
  ids: Record<string, string[]>;
  /** sha256 of each split's ids joined by newlines, to compare splits without the lists. */
  sha256: Record<string, string>;
}

export function hashIds(ids: readonly string[]): string {
  return createHash('sha256').update(ids.join('\n')).digest('hex');
}

/** The splits of a loaded dataset; a dataset no stage split trains on every record. */
export function datasetSplits(dataset: Dataset): Record<string, DataRecord[]> {
  return dataset.splits && Object.keys(dataset.splits).length ? dataset.splits : { train: dataset.records };
}

export function splitRecordOf(dataset: Dataset, config: Pick<ResolvedConfig, 'data' | 'runtime'>): SplitRecord {
  const ids: Record<string, string[]> = {};
  for (const [name, records] of Object.entries(datasetSplits(dataset))) ids[name] = records.map((r) => r.id);
  return {
    format: 'leantune-splits',
    version: 1,
    dataset: dataset.name,
    seed: config.runtime.seed,
    data: config.data,
    counts: Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, v.length])),
    ids,
    sha256: Object.fromEntries(Object.entries(ids).map(([k, v]) => [k, hashIds(v)])),
  };
}

/** splits.json of a run folder, or undefined for folders written before it existed. */
export function readSplitRecord(dir: string): SplitRecord | undefined {
  const file = join(dir, SPLIT_RECORD_FILE);
  if (!existsSync(file)) return undefined;
  let record: Partial<SplitRecord>;
  try {
    record = JSON.parse(readFileSync(file, 'utf8')) as Partial<SplitRecord>;
  } catch (err) {
    throw new ConfigError(`Cannot read ${file}: ${errorMessage(err)}`);
  }
  if (record.format !== 'leantune-splits' || !record.ids) throw new ConfigError(`${file} is not a leantune split record (format ${JSON.stringify(record.format)}).`);
  return record as SplitRecord;
}

/**
 * The records of one recorded split, taken by id from a freshly loaded dataset, so an
 * evaluation uses exactly the records the run held out. Fails naming the missing ids when
 * the data no longer yields them (the dataset changed since training).
 */
export function recordsOfSplit(dataset: Dataset, record: SplitRecord, split: string, file: string): DataRecord[] {
  const ids = record.ids[split];
  if (!ids) throw new ConfigError(`The run's split record ${file} has no "${split}" split; it has: ${Object.keys(record.ids).join(', ')}.`);
  const byId = new Map<string, DataRecord>();
  for (const r of dataset.records) byId.set(r.id, r);
  for (const list of Object.values(dataset.splits ?? {})) for (const r of list) if (!byId.has(r.id)) byId.set(r.id, r);
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length) {
    throw new ConfigError(
      `The run's "${split}" split (${file}) lists ${missing.length} of ${ids.length} record(s) that dataset "${dataset.name}" no longer yields (e.g. ${missing.slice(0, 3).join(', ')}): ` +
        'the data changed since training. Evaluate on other data explicitly with --data <spec>.',
    );
  }
  return ids.map((id) => byId.get(id)!);
}

/** How many of `records` the run trained on. */
export function overlapWithTraining(records: readonly DataRecord[], record: SplitRecord): number {
  const train = new Set(record.ids.train ?? []);
  return records.reduce((n, r) => n + (train.has(r.id) ? 1 : 0), 0);
}
