import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { filesUnder, hashPath } from './job';

/** The files of a run folder that travel back with its result: the adapters, the trainable weights, the environment. */
export const RESULT_FILES = ['adapters', 'trainable.safetensors', 'environment.json'];

/** Results up to this many bytes (all files together) travel inside the job's result in Redis; larger ones go to --artifacts. */
export const DEFAULT_INLINE_LIMIT = 8 * 2 ** 20;

/** One file of a run's result: inline (base64), in the shared artifacts folder, or left on the worker. */
export interface ResultFile {
  /** Relative to the run folder, with '/'. */
  path: string;
  bytes: number;
  sha256: string;
  base64?: string;
  /** Where the worker put it in the shared --artifacts folder. */
  stored?: string;
}

export interface PackedFiles {
  /** The run folder's name on the worker (the coordinator makes one of the same name). */
  folder: string;
  files: ResultFile[];
  /** Set when the files were too large to travel and no --artifacts folder was given: they stay on the worker. */
  leftOn?: string;
}

/** A run folder's result files, inline when they fit `inlineLimit`, else copied under `artifactsDir/<queue>/<folder>/`. */
export function packResultFiles(runDir: string, options: { inlineLimit?: number; artifactsDir?: string; queue: string; host: string }): PackedFiles {
  const folder = basename(runDir);
  const rels: string[] = [];
  for (const top of RESULT_FILES) {
    const p = join(runDir, top);
    if (!existsSync(p)) continue;
    if (statSync(p).isDirectory()) rels.push(...filesUnder(p).map((f) => join(top, f)));
    else rels.push(top);
  }
  const files: ResultFile[] = rels.map((rel) => ({ path: rel.split(sep).join('/'), ...hashPath(join(runDir, rel)) }));
  const total = files.reduce((n, f) => n + f.bytes, 0);
  if (total <= (options.inlineLimit ?? DEFAULT_INLINE_LIMIT)) {
    for (const f of files) f.base64 = readFileSync(join(runDir, f.path)).toString('base64');
    return { folder, files };
  }
  if (!options.artifactsDir) return { folder, files, leftOn: `${options.host}:${runDir}` };
  const dest = join(options.artifactsDir, options.queue, folder);
  for (const f of files) {
    const to = join(dest, f.path);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(join(runDir, f.path), to);
    f.stored = to;
  }
  return { folder, files };
}

/** Writes a result's files into `root/<folder>/` on the coordinator (inline ones decoded, shared ones copied) and returns that folder. */
export function materializeResultFiles(packed: PackedFiles, root: string): { dir: string; missing: string[] } {
  const dir = join(root, basename(packed.folder));
  const missing: string[] = [];
  for (const f of packed.files) {
    const rel = normalize(f.path);
    if (isAbsolute(rel) || rel.startsWith('..')) throw new Error(`refusing a result file outside its run folder: ${f.path}`);
    const to = join(dir, rel);
    mkdirSync(dirname(to), { recursive: true });
    if (f.base64 !== undefined) writeFileSync(to, Buffer.from(f.base64, 'base64'));
    else if (f.stored && existsSync(f.stored)) copyFileSync(f.stored, to);
    else missing.push(f.stored ?? `${packed.leftOn ?? '(the worker)'}/${f.path}`);
  }
  mkdirSync(dir, { recursive: true });
  return { dir, missing };
}
