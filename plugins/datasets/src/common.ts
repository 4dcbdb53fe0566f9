import { isAbsolute, resolve } from 'node:path';
import type { DataRecord, DatasetSpec, RunContext } from '@leantune/core';
import { deriveSeed, shuffle, type SkippedRow } from '@leantune/data';
import type { PackageResolver } from './packages';

export const PLUGIN_NAME = '@leantune/plugin-datasets';

/** What every loader of this plugin gets besides the spec and the run context. */
export interface LoaderDeps {
  resolvePackage: PackageResolver;
  /** Folder that relative file paths resolve from when the spec gives no `baseDir`. */
  baseDir?: string;
}

/**
 * Relative paths resolve from spec.baseDir, then the plugin's `baseDir` option, then the
 * config file's folder (`withConfigDir`), then the working directory.
 */
export function resolveDataPath(path: unknown, spec: DatasetSpec, deps: LoaderDeps, option = 'path'): string {
  if (typeof path !== 'string' || path === '') {
    throw new Error(`Dataset "${spec.name}" needs a "${option}" option naming a file or folder (relative to the config's folder or absolute)`);
  }
  if (isAbsolute(path)) return path;
  const base = typeof spec.baseDir === 'string' ? spec.baseDir : (deps.baseDir ?? process.cwd());
  return resolve(base, path);
}

/** The loader deps for one load: the plugin's baseDir, else the run's config folder. */
export function withConfigDir(deps: LoaderDeps, ctx: RunContext): LoaderDeps {
  return { ...deps, baseDir: deps.baseDir ?? ctx.configDir };
}

/** A positive integer option, or undefined; a wrong value fails naming the dataset and option. */
export function intOption(spec: DatasetSpec, name: string): number | undefined {
  const value = spec[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`Dataset "${spec.name}": option "${name}" must be a positive integer (got ${JSON.stringify(value)})`);
  }
  return value;
}

export function enumOption<T extends string>(spec: DatasetSpec, name: string, allowed: readonly T[], fallback: T): T {
  const value = spec[name] ?? fallback;
  if (!allowed.includes(value as T)) {
    throw new Error(`Dataset "${spec.name}": option "${name}" must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')} (got ${JSON.stringify(value)})`);
  }
  return value as T;
}

/**
 * Keeps at most `limit` records per label, a seeded sample (not the first N: package files
 * are often ordered by difficulty or source), in the original order. The rest become
 * 'limit-per-class' skips, so the load report accounts for them.
 */
export function limitPerClass(records: DataRecord[], limit: number | undefined, seed: number): { kept: DataRecord[]; skipped: SkippedRow[] } {
  if (limit === undefined) return { kept: records, skipped: [] };
  const byLabel = new Map<string, number[]>();
  records.forEach((r, i) => {
    const key = String(r.label ?? '');
    const list = byLabel.get(key) ?? [];
    list.push(i);
    byLabel.set(key, list);
  });
  const keep = new Set<number>();
  for (const [label, idx] of byLabel) for (const i of shuffle(idx, deriveSeed(seed, `limit:${label}`)).slice(0, limit)) keep.add(i);
  const kept: DataRecord[] = [];
  const skipped: SkippedRow[] = [];
  records.forEach((r, i) => {
    if (keep.has(i)) kept.push(r);
    else skipped.push({ ...r.meta, reason: 'limit-per-class', message: `over the limit of ${limit} per class`, requested: true });
  });
  return { kept, skipped };
}

export const runSeed = (spec: DatasetSpec, ctx: RunContext): number => (typeof spec.seed === 'number' ? spec.seed : ctx.seed);
