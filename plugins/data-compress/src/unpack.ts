import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DataRecord, Dataset } from '@leantune/core';
import { appendReport, countReport } from '@leantune/data';
import { decompress } from './compression';
import { COMPRESSIONS, MANIFEST_FILE, PACK_FORMAT, PACK_VERSION, type PackManifest, type ShardEntry } from './manifest';
import { decodeShard, type PackedRecord } from './shard-codec';

export const PLUGIN_NAME = '@leantune/plugin-data-compress';

/** A pack that fails its integrity check; `shard` names the offending file when there is one. */
export class PackIntegrityError extends Error {
  constructor(
    message: string,
    readonly shard?: string,
  ) {
    super(message);
    this.name = 'PackIntegrityError';
  }
}

export async function readManifest(dir: string): Promise<PackManifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    throw new PackIntegrityError(`${path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); is ${dir} a pack folder written by packDataset / "leantune data pack"?`);
  }
  let m: PackManifest;
  try {
    m = JSON.parse(text) as PackManifest;
  } catch (err) {
    throw new PackIntegrityError(`${path} is not valid JSON (${(err as Error).message}); the manifest is damaged`);
  }
  if (m?.format !== PACK_FORMAT) throw new PackIntegrityError(`${path}: "format" is ${JSON.stringify(m?.format)}, expected "${PACK_FORMAT}"`);
  if (m.version !== PACK_VERSION) throw new PackIntegrityError(`${path}: pack version ${m.version} is not supported (this reader knows version ${PACK_VERSION})`);
  if (!COMPRESSIONS.includes(m.compression)) throw new PackIntegrityError(`${path}: unknown compression ${JSON.stringify(m.compression)}`);
  if (!Array.isArray(m.shards)) throw new PackIntegrityError(`${path}: "shards" must be a list`);
  return m;
}

/** Reads one shard and checks size, hash, decompression, format and record count. */
async function readShard(dir: string, m: PackManifest, shard: ShardEntry, index: number): Promise<PackedRecord[]> {
  const where = `Pack ${dir}: shard #${index} ${shard.file}`;
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(join(dir, shard.file));
  } catch (err) {
    throw new PackIntegrityError(`${where} is missing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); restore it or re-pack`, shard.file);
  }
  if (bytes.length < shard.bytes) throw new PackIntegrityError(`${where} is truncated: ${bytes.length} of ${shard.bytes} bytes; restore it or re-pack`, shard.file);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== shard.sha256 || bytes.length !== shard.bytes) {
    throw new PackIntegrityError(`${where} is corrupt: sha256 ${sha.slice(0, 12)}… (${bytes.length} bytes) but the manifest says ${shard.sha256.slice(0, 12)}… (${shard.bytes} bytes); restore it or re-pack`, shard.file);
  }
  let payload: Buffer;
  try {
    payload = await decompress(bytes, m.compression);
  } catch (err) {
    throw new PackIntegrityError(`${where} does not decompress as ${m.compression} (${(err as Error).message})`, shard.file);
  }
  let items: PackedRecord[];
  try {
    items = decodeShard(payload, where);
  } catch (err) {
    throw new PackIntegrityError((err as Error).message, shard.file);
  }
  if (items.length !== shard.records) throw new PackIntegrityError(`${where} holds ${items.length} records, the manifest says ${shard.records}`, shard.file);
  return items;
}

/** Checks every shard (hash, size, decoding) and lists all problems instead of stopping at the first. */
export async function verifyPack(dir: string): Promise<{ ok: boolean; shards: number; records: number; problems: string[] }> {
  const m = await readManifest(dir);
  const problems: string[] = [];
  let records = 0;
  for (const [i, shard] of m.shards.entries()) {
    try {
      records += (await readShard(dir, m, shard, i)).length;
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  return { ok: problems.length === 0, shards: m.shards.length, records, problems };
}

/**
 * Loads a pack back into a Dataset (records, splits, labels and the reports it was packed
 * with), verifying every shard first. A missing, truncated or altered shard throws a
 * PackIntegrityError that names it. Quantised arrays come back as float32/float64.
 */
export async function unpackDataset(dir: string): Promise<Dataset> {
  const m = await readManifest(dir);
  const records: DataRecord[] = [];
  const splits: Record<string, DataRecord[]> = {};
  for (const name of Object.keys(m.counts.splits ?? {})) splits[name] = [];
  let lines = 0;
  for (const [i, shard] of m.shards.entries()) {
    for (const item of await readShard(dir, m, shard, i)) {
      lines++;
      if (item.inRecords !== false) records.push(item.record);
      for (const s of item.splits ?? []) (splits[s] ??= []).push(item.record);
    }
  }
  if (records.length !== m.counts.records) {
    throw new PackIntegrityError(`Pack ${dir}: shards hold ${records.length} records, the manifest counts ${m.counts.records}`);
  }
  const dataset: Dataset = { name: m.name, records, reports: m.reports ?? [], ...(m.labels ? { labels: m.labels } : {}) };
  if (m.counts.splits) dataset.splits = splits;
  return appendReport(
    dataset,
    countReport('unpack', PLUGIN_NAME, { in: lines, out: lines, dropReasons: {} }, { dir, shards: m.shards.length, compression: m.compression, quantize: m.quantize, verified: true }),
  );
}
