import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@leantune/tensor';
import { OptimizerStateDict } from '../optim/optimizer';
import { defaultTensorStore, TensorStore } from './tensor-store';

/**
 * On-disk layout of a checkpoint directory:
 *   <dir>/step-00000010/{weights,optimizer}.safetensors + checkpoint.json
 *   <dir>/latest          name of the newest complete checkpoint folder
 * A checkpoint is built in a hidden temp folder and renamed into place only when every file
 * is written and synced; checkpoint.json (written last) lists each file's size, so a folder
 * that was damaged later is refused too. `latest` is replaced by rename, never rewritten.
 */
const FORMAT = 'leantune-checkpoint';
const MANIFEST = 'checkpoint.json';
const LATEST = 'latest';
const FOLDER = /^step-(\d+)$/;

export interface CheckpointContents<T> {
  step: number;
  /** Trainable parameters only, by dotted path. */
  weights: Map<string, tf.Tensor>;
  optimizerName: string;
  optimizer: OptimizerStateDict;
  /** JSON-serializable trainer state (position in data, rng, early stopping, …). */
  trainer: T;
}

interface Manifest<T> {
  format: typeof FORMAT;
  version: 1;
  step: number;
  optimizer: { name: string; step: number; paramSteps: Record<string, number> };
  trainer: T;
  files: Record<string, number>;
}

export interface SaveCheckpointOptions {
  store?: TensorStore;
  /** Keep only the newest N checkpoint folders (default: keep all). */
  keepLast?: number;
}

function fsyncPath(p: string): void {
  // Directories cannot be opened for sync on every platform; a failure here only loses
  // durability on power loss, never atomicity, so it is not fatal.
  try {
    const fd = fs.openSync(p, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

function writeFileDurably(file: string, text: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function tempName(label: string): string {
  return `.tmp-${label}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function checkpointFolderName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

export async function saveCheckpoint<T>(dir: string, contents: CheckpointContents<T>, options: SaveCheckpointOptions = {}): Promise<string> {
  const store = options.store ?? defaultTensorStore();
  fs.mkdirSync(dir, { recursive: true });
  const name = checkpointFolderName(contents.step);
  const temp = path.join(dir, tempName(name));
  fs.mkdirSync(temp);
  try {
    const files: Record<string, number> = {};
    const weightsFile = `weights.${store.extension}`;
    const optimizerFile = `optimizer.${store.extension}`;
    await store.save(path.join(temp, weightsFile), contents.weights, { format: FORMAT, kind: 'weights' });
    await store.save(path.join(temp, optimizerFile), contents.optimizer.tensors, { format: FORMAT, kind: 'optimizer' });
    for (const f of [weightsFile, optimizerFile]) {
      fsyncPath(path.join(temp, f));
      files[f] = fs.statSync(path.join(temp, f)).size;
    }
    const { step, paramSteps } = contents.optimizer;
    const manifest: Manifest<T> = {
      format: FORMAT,
      version: 1,
      step: contents.step,
      optimizer: { name: contents.optimizerName, step, paramSteps },
      trainer: contents.trainer,
      files,
    };
    writeFileDurably(path.join(temp, MANIFEST), JSON.stringify(manifest, null, 1));
    fsyncPath(temp);
    const final = path.join(dir, name);
    let trash: string | undefined;
    if (fs.existsSync(final)) {
      trash = path.join(dir, tempName(`old-${name}`));
      fs.renameSync(final, trash);
    }
    fs.renameSync(temp, final);
    const latestTemp = path.join(dir, tempName(LATEST));
    writeFileDurably(latestTemp, `${name}\n`);
    fs.renameSync(latestTemp, path.join(dir, LATEST));
    fsyncPath(dir);
    if (trash) fs.rmSync(trash, { recursive: true, force: true });
    if (options.keepLast !== undefined) pruneCheckpoints(dir, options.keepLast, name);
    return final;
  } catch (err) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw err;
  }
}

function listCheckpointFolders(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((n) => FOLDER.test(n))
    .sort((a, b) => Number(FOLDER.exec(a)?.[1]) - Number(FOLDER.exec(b)?.[1]));
}

function pruneCheckpoints(dir: string, keepLast: number, keep: string): void {
  if (!Number.isInteger(keepLast) || keepLast < 1) throw new Error(`checkpoint.keepLast must be an integer >= 1, got ${keepLast}`);
  const folders = listCheckpointFolders(dir).filter((n) => n !== keep);
  for (const old of folders.slice(0, Math.max(0, folders.length + 1 - keepLast))) {
    fs.rmSync(path.join(dir, old), { recursive: true, force: true });
  }
}

/** Why `folder` is not a complete checkpoint, or null when it is one. */
function problemWith(folder: string): string | null {
  const manifestPath = path.join(folder, MANIFEST);
  if (!fs.existsSync(manifestPath)) return `no ${MANIFEST}`;
  let manifest: Manifest<unknown>;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest<unknown>;
  } catch (err) {
    return `${MANIFEST} is not valid JSON (${(err as Error).message})`;
  }
  if (manifest.format !== FORMAT) return `${MANIFEST} has format "${String(manifest.format)}", expected "${FORMAT}"`;
  for (const [file, size] of Object.entries(manifest.files ?? {})) {
    const p = path.join(folder, file);
    if (!fs.existsSync(p)) return `${file} is missing`;
    const actual = fs.statSync(p).size;
    if (actual !== size) return `${file} has ${actual} bytes, the manifest says ${size}`;
  }
  return null;
}

/**
 * The checkpoint folder that `p` names: a checkpoint folder itself, or a checkpoint
 * directory (its `latest`, else its newest complete step-* folder).
 */
export function resolveCheckpoint(p: string): string {
  if (fs.existsSync(path.join(p, MANIFEST))) {
    const problem = problemWith(p);
    if (problem) throw new Error(`Checkpoint ${p} is incomplete or damaged: ${problem}`);
    return p;
  }
  const latestPath = path.join(p, LATEST);
  if (fs.existsSync(latestPath)) {
    const target = path.join(p, fs.readFileSync(latestPath, 'utf8').trim());
    if (problemWith(target) === null) return target;
  }
  const valid = listCheckpointFolders(p)
    .reverse()
    .map((n) => path.join(p, n))
    .find((f) => problemWith(f) === null);
  if (valid) return valid;
  throw new Error(`No complete checkpoint in ${p}: expected a folder with ${MANIFEST} or a directory with a "${LATEST}" file or step-* folders`);
}

export interface LoadedCheckpoint<T> extends CheckpointContents<T> {
  folder: string;
}

/** Loads a checkpoint; the caller owns (and disposes) the returned tensors. */
export async function loadCheckpoint<T>(p: string, store: TensorStore = defaultTensorStore()): Promise<LoadedCheckpoint<T>> {
  const folder = resolveCheckpoint(p);
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, MANIFEST), 'utf8')) as Manifest<T>;
  const weights = await store.load(path.join(folder, `weights.${store.extension}`));
  let optimizerTensors: Map<string, tf.Tensor>;
  try {
    optimizerTensors = (await store.load(path.join(folder, `optimizer.${store.extension}`))).tensors;
  } catch (err) {
    tf.dispose([...weights.tensors.values()]);
    throw err;
  }
  return {
    folder,
    step: manifest.step,
    weights: weights.tensors,
    optimizerName: manifest.optimizer.name,
    optimizer: { step: manifest.optimizer.step, paramSteps: manifest.optimizer.paramSteps, tensors: optimizerTensors },
    trainer: manifest.trainer,
  };
}
