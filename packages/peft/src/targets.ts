import type { Module } from '@leantune/tensor';
import type { JSONSchema } from '@leantune/core';
import { closeMatches } from '@leantune/core';

/**
 * PEFT's target_modules rule, shared by the method plugins: a list entry matches a module
 * path exactly or as a dotted suffix ("output.dense" matches "encoder.layer.0.output.dense");
 * a string is a regex that must match the whole path.
 */
export type TargetSpec = readonly string[] | string;

/** JSON Schema of a TargetSpec config field (target_modules, exclude_modules, …): a list, a regex, or null. */
export function targetSpecSchema<const D extends string>(description: D) {
  // A literal (as const), so a method's config type derives from its schema (ConfigOf).
  return {
    description,
    anyOf: [{ type: 'array', items: { type: 'string', minLength: 1 } }, { type: 'string', minLength: 1 }, { type: 'null' }],
    default: null,
  } as const;
}

/** One line per TargetSpec field of `config` whose string value does not compile as a regex. */
export function targetSpecProblems<C extends object>(config: C, fields: ReadonlyArray<keyof C & string>): string[] {
  const problems: string[] = [];
  for (const field of fields) {
    const value = config[field];
    if (typeof value !== 'string') continue;
    try {
      new RegExp(value);
    } catch (err) {
      problems.push(`${field} "${value}" is not a valid regular expression (${(err as Error).message})`);
    }
  }
  return problems;
}

export function matchesSpec(spec: TargetSpec, path: string): boolean {
  if (typeof spec === 'string') return new RegExp(`^(?:${spec})$`).test(path);
  return spec.some((name) => path === name || path.endsWith(`.${name}`));
}

export interface FindModulesOptions {
  targets: TargetSpec;
  exclude?: TargetSpec | null;
  /** Modules not to descend into (e.g. already wrapped layers). */
  opaque?: (m: Module) => boolean;
  /** What the caller calls its targets, for messages ("Adapter target_modules"). */
  what: string;
}

/** Every module path with its module, root excluded, skipping the insides of opaque modules. */
export function modulePaths(model: Module, opaque?: (m: Module) => boolean): Array<[string, Module]> {
  const out: Array<[string, Module]> = [];
  const walk = (path: string, m: Module) => {
    if (path) out.push([path, m]);
    if (path && opaque?.(m)) return;
    for (const [name, child] of m.namedChildren()) walk(path ? `${path}.${name}` : name, child);
  };
  walk('', model);
  return out;
}

/** The last segment of each path ("encoder.layer.0.output.dense" → "dense"), each once. */
export function leafNames(paths: readonly string[]): string[] {
  return [...new Set(paths.map((p) => p.split('.').pop()!))];
}

/**
 * The error for targets that matched nothing: the targets, the module names closest to
 * them, then `available` (what the model does have, in the caller's words).
 */
export function noTargetMatchError(what: string, targets: TargetSpec, paths: readonly string[], available: string): Error {
  const wanted = typeof targets === 'string' ? [targets] : targets;
  const candidates = [...leafNames(paths), ...paths];
  const close = [...new Set(wanted.flatMap((t) => closeMatches(t, candidates, 3)))];
  return new Error(
    `${what} ${JSON.stringify(targets)} matched no module of the model.${close.length ? ` Close module names: ${close.map((c) => `"${c}"`).join(', ')}.` : ''} ${available}`,
  );
}

/** The matching modules; none matching fails naming close module names (the model is not touched). */
export function findModules(model: Module, options: FindModulesOptions): Array<[string, Module]> {
  const all = modulePaths(model, options.opaque);
  const hits = all.filter(([p]) => matchesSpec(options.targets, p) && !(options.exclude && matchesSpec(options.exclude, p)));
  if (hits.length) return hits;
  const paths = all.map(([p]) => p);
  const leaves = leafNames(paths);
  throw noTargetMatchError(options.what, options.targets, paths, `Module names in this model: ${leaves.slice(0, 15).join(', ')}${leaves.length > 15 ? ', …' : ''}.`);
}
