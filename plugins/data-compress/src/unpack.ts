import { createHash } from 'node:crypto';
import { constants, promises as fs } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
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

/** A manifest is a few KB per thousand shards; a larger one is not read (it would be parsed whole). */
export const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The checks on a shard entry that need no file: a relative path that stays in the pack
 * folder (no absolute path, no ".." segment) and declared sizes. The manifest is untrusted
 * input: a pack may come from anywhere.
 */
function checkShardEntry(path: string, raw: unknown, index: number): ShardEntry {
  const shard = raw as Partial<ShardEntry> | null;
  if (!shard || typeof shard !== 'object' || typeof shard.file !== 'string' || shard.file === '') {
    throw new PackIntegrityError(`${path}: shard #${index} has no "file" (a path inside the pack folder); the manifest is damaged, re-pack`);
  }
  const where = `${path}: shard #${index} ${shard.file}`;
  if (isAbsolute(shard.file) || /^[a-zA-Z]:|^[\\/]/.test(shard.file)) {
    throw new PackIntegrityError(`${where} is an absolute path; shard paths must be relative to the pack folder (the manifest is damaged or hostile, re-pack)`, shard.file);
  }
  if (shard.file.split(/[\\/]/).includes('..')) {
    throw new PackIntegrityError(`${where} is outside the pack folder: shard paths must not contain ".." (the manifest is damaged or hostile, re-pack)`, shard.file);
  }
  for (const key of ['bytes', 'rawBytes', 'records'] as const) {
    if (shard[key] === undefined) {
      throw new PackIntegrityError(`${where}: the manifest declares no "${key}" (a pack written by an older leantune); re-pack it with "leantune data pack" so every shard's size is declared and checked`, shard.file);
    }
    if (!isSize(shard[key])) throw new PackIntegrityError(`${where}: "${key}" is ${JSON.stringify(shard[key])}, not a non-negative integer; the manifest is damaged, re-pack`, shard.file);
  }
  if (typeof shard.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(shard.sha256)) {
    throw new PackIntegrityError(`${where}: "sha256" is ${JSON.stringify(shard.sha256)}, not 64 hex digits; the manifest is damaged, re-pack`, shard.file);
  }
  return shard as ShardEntry;
}

export async function readManifest(dir: string): Promise<PackManifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    const st = await fs.lstat(path);
    if (!st.isFile()) throw new PackIntegrityError(`${path} is not a regular file (a symlink or device?); a pack's manifest must be a plain file, re-pack`);
    if (st.size > MAX_MANIFEST_BYTES) throw new PackIntegrityError(`${path} is ${st.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit for a manifest; it is damaged or hostile`);
    text = await fs.readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof PackIntegrityError) throw err;
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
  m.shards = m.shards.map((s, i) => checkShardEntry(path, s, i));
  return m;
}

/**
 * The shard's bytes, read only when the file is a regular file inside the pack folder (its
 * real path, symlinks resolved) whose size is the declared one; nothing more is read.
 */
async function readShardFile(dir: string, shard: ShardEntry, where: string): Promise<Buffer> {
  let real: string;
  let realDir: string;
  try {
    realDir = await fs.realpath(dir);
    real = await fs.realpath(join(dir, shard.file));
  } catch (err) {
    throw new PackIntegrityError(`${where} is missing (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); restore it or re-pack`, shard.file);
  }
  if (!real.startsWith(realDir + sep)) {
    throw new PackIntegrityError(`${where} resolves to ${real}, outside the pack folder (a symlink?); shards must be files inside the pack folder, re-pack`, shard.file);
  }
  const notFile = () => new PackIntegrityError(`${where} is not a regular file (a device, pipe or folder); restore it or re-pack`, shard.file);
  // Checked before open too: opening a named pipe would wait for a writer forever.
  if (!(await fs.stat(real)).isFile()) throw notFile();
  const handle = await fs.open(real, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile()) throw notFile();
    if (st.size < shard.bytes) throw new PackIntegrityError(`${where} is truncated: ${st.size} of ${shard.bytes} bytes; restore it or re-pack`, shard.file);
    if (st.size > shard.bytes) throw new PackIntegrityError(`${where} is ${st.size} bytes, the manifest declares ${shard.bytes}; it is not the shard that was packed, restore it or re-pack`, shard.file);
    const bytes = Buffer.alloc(shard.bytes);
    for (let done = 0; done < bytes.length; ) {
      const { bytesRead } = await handle.read(bytes, done, bytes.length - done, done);
      if (bytesRead === 0) throw new PackIntegrityError(`${where} is truncated: ${done} of ${shard.bytes} bytes; restore it or re-pack`, shard.file);
      done += bytesRead;
    }
    return bytes;
  } finally {
    await handle.close();
  }
}

/** Reads one shard and checks path, size, hash, decompression (up to the declared size), format and record count. */
async function readShard(dir: string, m: PackManifest, shard: ShardEntry, index: number): Promise<PackedRecord[]> {
  const where = `Pack ${dir}: shard #${index} ${shard.file}`;
  const bytes = await readShardFile(dir, shard, where);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (sha !== shard.sha256) {
    throw new PackIntegrityError(`${where} is corrupt: sha256 ${sha.slice(0, 12)}… (${bytes.length} bytes) but the manifest says ${shard.sha256.slice(0, 12)}… (${shard.bytes} bytes); restore it or re-pack`, shard.file);
  }
  let payload: Buffer;
  try {
    payload = await decompress(bytes, m.compression, shard.rawBytes);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PackIntegrityError(`${where} decompresses to more than the ${shard.rawBytes} bytes the manifest declares ("rawBytes"); it is damaged or hostile (a compression bomb?), re-pack`, shard.file);
    }
    throw new PackIntegrityError(`${where} does not decompress as ${m.compression} (${(err as Error).message})`, shard.file);
  }
  if (payload.length !== shard.rawBytes) {
    throw new PackIntegrityError(`${where} decompresses to ${payload.length} bytes, the manifest declares ${shard.rawBytes} ("rawBytes"); restore it or re-pack`, shard.file);
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
