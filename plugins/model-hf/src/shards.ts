import fs from 'node:fs';
import path from 'node:path';
import { readSafetensorsHeader, tf } from '@leantune/tensor';
import { otherFormatError } from './formats';

/** transformers' index file beside sharded weights. */
export const SAFETENSORS_INDEX = 'model.safetensors.index.json';

/** The tensors of a checkpoint and the file (shard) each lives in; only headers are read. */
export interface TensorSource {
  /** What error messages name: model.safetensors, or the index file. */
  file: string;
  /** The shard files, in the order they are read. */
  shards: string[];
  has(name: string): boolean;
  shape(name: string): number[];
  /** The file holding `name`. */
  shardOf(name: string): string;
  keys(): string[];
}

function singleFile(file: string): TensorSource {
  const header = readSafetensorsHeader(file);
  return {
    file,
    shards: [file],
    has: (name) => header.tensors.has(name),
    shape: (name) => header.tensors.get(name)!.shape,
    shardOf: () => file,
    keys: () => [...header.tensors.keys()],
  };
}

/**
 * Where a shard may really live: the folder, and for a Hugging Face cache snapshot
 * (models--org--name/snapshots/<rev>/, whose files are symlinks to ../../blobs/<hash>) that
 * repository's blobs folder.
 */
function allowedRoots(dir: string): string[] {
  const roots = [fs.realpathSync(dir)];
  const abs = path.resolve(dir);
  const blobs = path.join(abs, '..', '..', 'blobs');
  if (path.basename(path.dirname(abs)) === 'snapshots' && path.basename(path.join(abs, '..', '..')).startsWith('models--') && fs.existsSync(blobs)) roots.push(fs.realpathSync(blobs));
  return roots;
}

/** `entry` resolved inside `dir`, or an error naming it: no absolute paths, no `..`, no symlink out. */
function shardPath(dir: string, entry: string, indexFile: string, tensor: string): string {
  const refuse = (why: string) => new Error(`${indexFile}: shard "${entry}" (for tensor "${tensor}") ${why}; every shard must be a file in the checkpoint folder`);
  if (entry === '' || path.isAbsolute(entry) || path.win32.isAbsolute(entry)) throw refuse('is an absolute path');
  if (entry.split(/[\\/]/).includes('..')) throw refuse('leaves the folder (..)');
  const full = path.join(dir, entry);
  if (!fs.existsSync(full)) throw new Error(`${indexFile}: shard "${entry}" (for tensor "${tensor}") is missing from ${dir}; download every shard the index lists`);
  const real = fs.realpathSync(full);
  if (!allowedRoots(dir).some((root) => real.startsWith(root + path.sep))) throw refuse(`leads out of the folder (to ${real})`);
  if (!fs.statSync(real).isFile()) throw refuse('is not a file');
  return full;
}

/**
 * Reads `model.safetensors.index.json` (transformers' `weight_map`: tensor → shard file)
 * and the header of each shard. Refuses shard paths that leave the folder and tensors the
 * index lists that their shard does not hold.
 */
function shardedFiles(dir: string, indexFile: string): TensorSource {
  let index: unknown;
  try {
    index = JSON.parse(fs.readFileSync(indexFile, 'utf8'));
  } catch (err) {
    throw new Error(`${indexFile} is not valid JSON (${(err as Error).message}); download it again`);
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null || Array.isArray(weightMap)) {
    throw new Error(`${indexFile}: "weight_map" must be an object of tensor name → shard file, as transformers writes it`);
  }
  const map = new Map<string, string>();
  const resolved = new Map<string, string>();
  for (const [tensor, entry] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof entry !== 'string') throw new Error(`${indexFile}: "weight_map" entry for "${tensor}" must be a file name, got ${JSON.stringify(entry)}`);
    if (!resolved.has(entry)) resolved.set(entry, shardPath(dir, entry, indexFile, tensor));
    map.set(tensor, resolved.get(entry)!);
  }
  if (!map.size) throw new Error(`${indexFile}: "weight_map" lists no tensors`);
  const headers = new Map([...new Set(resolved.values())].map((f) => [f, readSafetensorsHeader(f)]));
  for (const [tensor, file] of map) {
    if (!headers.get(file)!.tensors.has(tensor)) {
      throw new Error(`${indexFile}: tensor "${tensor}" is listed in shard "${path.relative(dir, file)}", but that shard does not hold it; the index and the shards do not belong together (download them again)`);
    }
  }
  return {
    file: indexFile,
    shards: [...headers.keys()],
    has: (name) => map.has(name),
    shape: (name) => headers.get(map.get(name)!)!.tensors.get(name)!.shape,
    shardOf: (name) => map.get(name)!,
    keys: () => [...map.keys()],
  };
}

/** The checkpoint's tensors: model.safetensors, or the shards model.safetensors.index.json lists. */
export function openTensorSource(dir: string): TensorSource {
  const file = path.join(dir, 'model.safetensors');
  if (fs.existsSync(file)) return singleFile(file);
  const indexFile = path.join(dir, SAFETENSORS_INDEX);
  if (fs.existsSync(indexFile)) return shardedFiles(dir, indexFile);
  const other = otherFormatError(dir);
  if (other) throw other;
  throw new Error(`${file} is missing; download model.safetensors (or ${SAFETENSORS_INDEX} and its shards) from the model page on huggingface.co into this folder`);
}

/** `model-00001-of-00003.safetensors`, as transformers names shards. */
export function shardName(i: number, count: number): string {
  return `model-${String(i + 1).padStart(5, '0')}-of-${String(count).padStart(5, '0')}.safetensors`;
}

function byteSize(t: tf.Tensor): number {
  return t.size * (t.dtype === 'float32' || t.dtype === 'int32' ? 4 : t.dtype === 'bool' ? 1 : 4);
}

/**
 * Splits tensors into shards as huggingface_hub's split_state_dict_into_shards does: in
 * order, a new shard when the next tensor would take the current one past `maxShardBytes`
 * (a larger tensor gets a shard of its own). Returns the shards' tensor names and the index
 * transformers writes (`metadata.total_size`, `weight_map`).
 */
export function planShards(tensors: ReadonlyArray<readonly [string, tf.Tensor]>, maxShardBytes: number): { shards: string[][]; index: { metadata: { total_size: number }; weight_map: Record<string, string> } } {
  if (!(maxShardBytes > 0)) throw new Error(`maxShardBytes must be a positive number of bytes, got ${maxShardBytes}`);
  const shards: string[][] = [];
  let current: string[] = [];
  let size = 0;
  let total = 0;
  for (const [name, t] of tensors) {
    const bytes = byteSize(t);
    total += bytes;
    if (current.length && size + bytes > maxShardBytes) {
      shards.push(current);
      current = [];
      size = 0;
    }
    current.push(name);
    size += bytes;
  }
  if (current.length) shards.push(current);
  const weightMap: Record<string, string> = {};
  shards.forEach((names, i) => names.forEach((n) => (weightMap[n] = shardName(i, shards.length))));
  const sorted = Object.fromEntries(Object.keys(weightMap).sort().map((k) => [k, weightMap[k]]));
  return { shards, index: { metadata: { total_size: total }, weight_map: sorted } };
}

/**
 * Writes `tensors` into `dir` as transformers' sharded layout: model-0000i-of-0000n.safetensors
 * and model.safetensors.index.json (indent 2, keys sorted, as transformers dumps it), with
 * `save` writing each shard. Returns the file names written.
 */
export function writeShardedSafetensors(
  dir: string,
  tensors: Map<string, tf.Tensor>,
  maxShardBytes: number,
  save: (file: string, shard: Map<string, tf.Tensor>) => void,
): string[] {
  const { shards, index } = planShards([...tensors], maxShardBytes);
  const files = shards.map((names, i) => {
    const name = shardName(i, shards.length);
    save(path.join(dir, name), new Map(names.map((n) => [n, tensors.get(n)!])));
    return name;
  });
  const json = `${JSON.stringify(sortKeysDeep(index), null, 2)}\n`;
  fs.writeFileSync(path.join(dir, SAFETENSORS_INDEX), json);
  return [...files, SAFETENSORS_INDEX];
}

function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeysDeep((v as Record<string, unknown>)[k])]));
  return v;
}
