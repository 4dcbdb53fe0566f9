import { createHash } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from '@leantune/core';
import { labelCounts } from '@leantune/data';
import { datasetCard } from './card';
import { checkLevel, compress, DEFAULT_LEVEL, SHARD_EXTENSION } from './compression';
import { writeFileAtomic } from './fs-atomic';
import { CARD_FILE, COMPRESSIONS, inferSchema, MANIFEST_FILE, PACK_FORMAT, PACK_VERSION, type Compression, type PackManifest, type ShardEntry } from './manifest';
import { QUANTIZE_MODES, type QuantizeMode } from './quantize';
import { encodeShard, type PackedRecord } from './shard-codec';

export interface PackOptions {
  compression?: Compression;
  /** gzip 0-9 (default 6), brotli 0-11 (default 6). */
  level?: number;
  /** Precision of float arrays (images, features): 'none' (default), 'fp16', 'uint8'. */
  quantize?: QuantizeMode;
  /** Records per shard (default 2,000). */
  recordsPerShard?: number;
  /** Replace a pack already in `dir` (default false: fail instead). */
  overwrite?: boolean;
}

export interface PackSummary {
  dir: string;
  manifest: PackManifest;
  /** Wall time of the pack, in seconds. */
  seconds: number;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new Error(`packDataset: ${name} must be one of ${allowed.map((a) => `"${a}"`).join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

/** Records in dataset.records order, then split-only records, each tagged with its splits. */
function packedItems(dataset: Dataset): PackedRecord[] {
  const seen = new Set<string>();
  for (const r of dataset.records) {
    if (seen.has(r.id)) throw new Error(`packDataset: record id "${r.id}" appears twice in dataset "${dataset.name}"; ids must be unique to pack (deduplicate first)`);
    seen.add(r.id);
  }
  const splitsOf = new Map<string, string[]>();
  const extra = new Map<string, PackedRecord>();
  for (const [split, list] of Object.entries(dataset.splits ?? {})) {
    for (const r of list) {
      splitsOf.set(r.id, [...(splitsOf.get(r.id) ?? []), split]);
      if (!seen.has(r.id) && !extra.has(r.id)) extra.set(r.id, { record: r, inRecords: false });
    }
  }
  const items: PackedRecord[] = dataset.records.map((record) => ({ record }));
  items.push(...extra.values());
  for (const item of items) {
    const splits = splitsOf.get(item.record.id);
    if (splits) item.splits = splits;
  }
  return items;
}

/**
 * Writes `dataset` to `dir` as a pack: shards named by their sha256, then manifest.json and
 * a README.md dataset card. Every file is written atomically and the manifest last, so a
 * folder with a manifest always holds a complete pack. The dataset is not modified.
 */
export async function packDataset(dataset: Dataset, dir: string, options: PackOptions = {}): Promise<PackSummary> {
  const started = performance.now();
  const compression = oneOf('compression', options.compression ?? 'gzip', COMPRESSIONS);
  const quantize = oneOf('quantize', options.quantize ?? 'none', QUANTIZE_MODES);
  const level = options.level ?? DEFAULT_LEVEL[compression];
  checkLevel(compression, level);
  const perShard = options.recordsPerShard ?? 2000;
  if (!Number.isInteger(perShard) || perShard < 1) throw new Error(`packDataset: recordsPerShard must be a positive integer (got ${perShard})`);
  if (existsSync(join(dir, MANIFEST_FILE)) && !options.overwrite) {
    throw new Error(`packDataset: ${join(dir, MANIFEST_FILE)} already exists; choose an empty folder or pass overwrite: true`);
  }
  const items = packedItems(dataset);
  await fs.mkdir(join(dir, 'shards'), { recursive: true });

  const shards: ShardEntry[] = [];
  let arrays = 0;
  let maxAbsError = 0;
  for (let start = 0; start < items.length; start += perShard) {
    const slice = items.slice(start, start + perShard);
    const encoded = encodeShard(slice, quantize);
    const bytes = await compress(encoded.payload, compression, level);
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const file = `shards/${sha256}${SHARD_EXTENSION[compression]}`;
    // Same bytes, same name: a shard already present (an earlier pack) is kept as is.
    if (!existsSync(join(dir, file))) await writeFileAtomic(join(dir, file), bytes);
    shards.push({ file, sha256, bytes: bytes.length, rawBytes: encoded.payload.length, records: slice.length });
    arrays += encoded.arrays;
    maxAbsError = Math.max(maxAbsError, encoded.maxAbsError);
  }

  const splitCounts = dataset.splits ? Object.fromEntries(Object.entries(dataset.splits).map(([k, v]) => [k, v.length])) : undefined;
  const manifest: PackManifest = {
    format: PACK_FORMAT,
    version: PACK_VERSION,
    name: dataset.name,
    ...(dataset.labels ? { labels: dataset.labels } : {}),
    compression,
    level,
    quantize,
    counts: { records: dataset.records.length, lines: items.length, labels: labelCounts(dataset.records), ...(splitCounts ? { splits: splitCounts } : {}) },
    schema: inferSchema(items.map((i) => i.record)),
    shards,
    totals: { bytes: shards.reduce((a, s) => a + s.bytes, 0), rawBytes: shards.reduce((a, s) => a + s.rawBytes, 0) },
    quantization: { arrays, maxAbsError },
    reports: dataset.reports,
  };
  await writeFileAtomic(join(dir, CARD_FILE), datasetCard(manifest));
  await writeFileAtomic(join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  if (options.overwrite) {
    // Shards of the pack this one replaced are no longer listed anywhere.
    const keep = new Set(shards.map((s) => s.file.slice('shards/'.length)));
    for (const name of await fs.readdir(join(dir, 'shards'))) if (!keep.has(name)) await fs.rm(join(dir, 'shards', name), { force: true });
  }
  return { dir, manifest, seconds: (performance.now() - started) / 1000 };
}
