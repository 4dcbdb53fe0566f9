import fs from 'node:fs';
import path from 'node:path';
import { sha256File } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { OptimizerStateDict } from '../optim/optimizer';
import { defaultTensorStore, TensorStore } from './tensor-store';

/**
 * On-disk layout of a checkpoint directory:
 *   <dir>/step-00000010/{weights,optimizer}.safetensors + checkpoint.json
 *   <dir>/latest          name of the newest complete checkpoint folder
 * A checkpoint is built in a hidden temp folder and renamed into place only when every file
 * is written and synced; checkpoint.json (the manifest, written last: it is the commit) lists
 * each file's size and sha256, so a folder damaged later (truncated, or changed at the same
 * size) is refused too. `latest` is replaced by rename, never rewritten.
 */
const FORMAT = 'leantune-checkpoint';
const MANIFEST = 'checkpoint.json';
const LATEST = 'latest';
const FOLDER = /^step-(\d+)$/;
/** Version 1 manifests (before hashes) list sizes only; they are accepted as unverified. */
const VERSION = 2;

export interface CheckpointContents<T> {
  step: number;
  /** Trainable parameters only, by dotted path. */
  weights: Map<string, tf.Tensor>;
  optimizerName: string;
  optimizer: OptimizerStateDict;
  /** JSON-serializable trainer state (position in data, rng, early stopping, …). */
  trainer: T;
}

interface FileEntry {
  bytes: number;
  sha256: string;
}

interface Manifest<T> {
  format: typeof FORMAT;
  version: 1 | 2;
  step: number;
  optimizer: { name: string; step: number; paramSteps: Record<string, number> };
  trainer: T;
  /** Version 2: size and sha256 of each file; version 1: size only. */
  files: Record<string, FileEntry | number>;
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
    const files: Record<string, FileEntry> = {};
    const weightsFile = `weights.${store.extension}`;
    const optimizerFile = `optimizer.${store.extension}`;
    await store.save(path.join(temp, weightsFile), contents.weights, { format: FORMAT, kind: 'weights' });
    await store.save(path.join(temp, optimizerFile), contents.optimizer.tensors, { format: FORMAT, kind: 'optimizer' });
    for (const f of [weightsFile, optimizerFile]) {
      fsyncPath(path.join(temp, f));
      // Hashed as it lies on disk, read back in chunks (a file can be larger than memory allows twice).
      files[f] = { bytes: fs.statSync(path.join(temp, f)).size, sha256: sha256File(path.join(temp, f)) };
    }
    const { step, paramSteps } = contents.optimizer;
    const manifest: Manifest<T> = {
      format: FORMAT,
      version: VERSION,
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

interface Inspection {
  /** Why the folder is not a usable checkpoint (missing manifest, a file missing, cut short or changed). */
  problem?: string;
  /** An older checkpoint whose manifest has no hashes: sizes checked only. */
  unverified?: boolean;
}

/** Checks a checkpoint folder against its manifest: every file there, its size, then its sha256 (streamed). */
function inspect(folder: string): Inspection {
  const manifestPath = path.join(folder, MANIFEST);
  if (!fs.existsSync(manifestPath)) return { problem: `no ${MANIFEST} (the manifest is written last, so the save did not finish, or the file was removed)` };
  let manifest: Manifest<unknown>;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest<unknown>;
  } catch (err) {
    return { problem: `${MANIFEST} is not valid JSON (${(err as Error).message})` };
  }
  if (manifest?.format !== FORMAT) return { problem: `${MANIFEST} has format "${String(manifest?.format)}", expected "${FORMAT}"` };
  const entries = Object.entries(manifest.files ?? {});
  if (!entries.length) return { problem: `${MANIFEST} lists no files` };
  let unverified = false;
  for (const [file, entry] of entries) {
    const p = path.join(folder, file);
    if (!fs.existsSync(p)) return { problem: `${file} is missing` };
    const expected = typeof entry === 'number' ? { bytes: entry, sha256: undefined } : entry;
    const actual = fs.statSync(p).size;
    if (actual !== expected.bytes) return { problem: `${file} has ${actual} bytes, the manifest says ${expected.bytes}` };
    if (expected.sha256 === undefined) {
      unverified = true;
      continue;
    }
    const sha256 = sha256File(p);
    if (sha256 !== expected.sha256) return { problem: `${file} has sha256 ${sha256}, the manifest says ${expected.sha256} (same size: changed after it was written)` };
  }
  return unverified ? { unverified } : {};
}

export interface ResolveCheckpointOptions {
  /** Told about each damaged checkpoint skipped (which, and why) and about unverified (pre-hash) ones. */
  warn?: (message: string) => void;
}

/** The error when no checkpoint in a directory is usable: names each one and what is wrong with it. */
export class CheckpointError extends Error {
  constructor(
    message: string,
    readonly problems: ReadonlyArray<{ folder: string; problem: string }> = [],
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

function unverifiedNote(folder: string): string {
  return `Checkpoint ${folder} was written before checkpoints carried sha256 hashes: only its file sizes could be checked (unverified).`;
}

/**
 * The checkpoint folder that `p` names: a checkpoint folder itself (refused when damaged), or
 * a checkpoint directory: the folder its `latest` names, else (missing or damaged) its newest
 * intact step-* folder. Every folder is checked
 * against its manifest (sizes and sha256); each damaged one skipped is reported through
 * `warn`, and when none is usable the error names each and why.
 */
export function resolveCheckpoint(p: string, options: ResolveCheckpointOptions = {}): string {
  if (fs.existsSync(path.join(p, MANIFEST))) {
    const { problem, unverified } = inspect(p);
    if (problem) throw new CheckpointError(`Checkpoint ${p} is incomplete or damaged: ${problem}`, [{ folder: p, problem }]);
    if (unverified) options.warn?.(unverifiedNote(p));
    return p;
  }
  // The folder `latest` names first, then the others, newest first.
  const latestPath = path.join(p, LATEST);
  const latest = fs.existsSync(latestPath) ? fs.readFileSync(latestPath, 'utf8').trim() : undefined;
  const others = listCheckpointFolders(p).reverse();
  const folders = latest && others.includes(latest) ? [latest, ...others.filter((n) => n !== latest)] : others;
  if (!folders.length) {
    throw new CheckpointError(`No complete checkpoint in ${p}: expected a folder with ${MANIFEST} or a directory with a "${LATEST}" file or step-* folders`);
  }
  const skipped: Array<{ folder: string; problem: string }> = [];
  for (const name of folders) {
    const folder = path.join(p, name);
    const { problem, unverified } = inspect(folder);
    if (problem) {
      skipped.push({ folder, problem });
      continue;
    }
    for (const s of skipped) options.warn?.(`Skipping checkpoint ${s.folder}: ${s.problem}.`);
    if (skipped.length) options.warn?.(`Using checkpoint ${folder}, the newest intact one.`);
    if (unverified) options.warn?.(unverifiedNote(folder));
    return folder;
  }
  throw new CheckpointError(
    `No usable checkpoint in ${p}; every one is incomplete or damaged:\n${skipped.map((s) => `  ${path.basename(s.folder)}: ${s.problem}`).join('\n')}\n` +
      'Nothing can be resumed from these: restore the checkpoints from a copy, or start the run again.',
    skipped,
  );
}

export interface LoadedCheckpoint<T> extends CheckpointContents<T> {
  folder: string;
}

/** Loads a checkpoint; the caller owns (and disposes) the returned tensors. */
export async function loadCheckpoint<T>(p: string, store: TensorStore = defaultTensorStore(), options: ResolveCheckpointOptions = {}): Promise<LoadedCheckpoint<T>> {
  const folder = resolveCheckpoint(p, options);
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
