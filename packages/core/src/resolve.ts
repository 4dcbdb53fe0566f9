import { existsSync, readFileSync, readdirSync, realpathSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { PluginEntry } from './config/schema';
import { PluginError, errorMessage } from './errors';
import { packageRootOf, preparePluginLoad } from './host-modules';
import { pluginShapeProblems, type Plugin } from './plugin';
import type { PluginUse } from './toolkit';
import { closeMatches } from './suggest';

const SHORT_PREFIX = 'leantune-plugin';
const OWN_SCOPE = '@leantune/';

function isPath(name: string): boolean {
  return name.startsWith('./') || name.startsWith('../') || isAbsolute(name);
}

/**
 * Package names a plugin name stands for, in the order they are tried; the same rules
 * Babel uses for its plugins:
 * `lora` → `@leantune/plugin-lora`, `leantune-plugin-lora`; `@acme/x` → `@acme/leantune-plugin-x`;
 * `@acme` → `@acme/leantune-plugin`; `module:x` → `x` exactly; full names stay as they are.
 */
export function pluginNameCandidates(name: string): string[] {
  if (name.startsWith('module:')) return [name.slice('module:'.length)];
  if (name.startsWith(OWN_SCOPE)) {
    const rest = name.slice(OWN_SCOPE.length);
    return [rest.startsWith('plugin-') ? name : `${OWN_SCOPE}plugin-${rest}`];
  }
  if (name.startsWith('@')) {
    const [scope, rest] = name.split('/', 2);
    if (rest === undefined) return [`${scope}/${SHORT_PREFIX}`];
    return [rest.startsWith(SHORT_PREFIX) ? name : `${scope}/${SHORT_PREFIX}-${rest}`];
  }
  if (name.startsWith(`${SHORT_PREFIX}-`)) return [name];
  return [`${OWN_SCOPE}plugin-${name}`, `${SHORT_PREFIX}-${name}`];
}

/** The short name a package is written as in configs (`@leantune/plugin-lora` → `lora`). */
export function shortPluginName(pkg: string): string {
  if (pkg.startsWith(`${OWN_SCOPE}plugin-`)) return pkg.slice(`${OWN_SCOPE}plugin-`.length);
  if (pkg.startsWith(`${SHORT_PREFIX}-`)) return pkg.slice(SHORT_PREFIX.length + 1);
  const scoped = /^(@[^/]+)\/leantune-plugin(?:-(.+))?$/.exec(pkg);
  if (scoped) return scoped[2] ? `${scoped[1]}/${scoped[2]}` : scoped[1];
  return pkg;
}

function nodeModulesDirs(from: string): string[] {
  const dirs: string[] = [];
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const nm = join(dir, 'node_modules');
    if (existsSync(nm)) dirs.push(nm);
    if (dirname(dir) === dir) return dirs;
  }
}

/** True when a package manifest says "private": it was never installed from a registry. */
function isPrivateManifest(file: string): boolean {
  try {
    return JSON.parse(readFileSync(file, 'utf8')).private === true;
  } catch {
    return false;
  }
}

/**
 * Installed plugin packages visible from these folders, for listings and "did you mean"
 * hints. `skipPrivate` leaves out packages marked "private": beside the toolkit's own
 * install these are its workspace's packages (e.g. a test fixture hoisted into the
 * monorepo's node_modules), not plugins anyone installed.
 */
export function installedPluginPackages(fromDirs: readonly string[], options: { skipPrivate?: boolean } = {}): string[] {
  const found = new Set<string>();
  for (const nm of fromDirs.flatMap(nodeModulesDirs)) {
    const add = (pkg: string) => {
      if (!options.skipPrivate || !isPrivateManifest(join(nm, pkg, 'package.json'))) found.add(pkg);
    };
    for (const entry of readdirSync(nm)) {
      if (entry.startsWith(`${SHORT_PREFIX}-`)) add(entry);
      if (!entry.startsWith('@')) continue;
      let scoped: string[] = [];
      try {
        scoped = readdirSync(join(nm, entry));
      } catch {
        continue;
      }
      for (const pkg of scoped) {
        const full = `${entry}/${pkg}`;
        if (pkg.startsWith(SHORT_PREFIX) || (entry === '@leantune' && pkg.startsWith('plugin-'))) add(full);
      }
    }
  }
  return [...found].sort();
}

/**
 * The plugin packages a config in `projectDir` can enable: those installed in the project
 * (its node_modules and above), and those installed beside the toolkit (a global or
 * folder install of the CLI), except the toolkit workspace's private packages.
 */
export function pluginPackagesFor(projectDir: string): string[] {
  return [...new Set([...installedPluginPackages([projectDir]), ...installedPluginPackages([__dirname], { skipPrivate: true })])].sort();
}

function installedManifest(pkg: string, paths: string[]): string | undefined {
  try {
    return require.resolve(`${pkg}/package.json`, { paths });
  } catch {
    return undefined;
  }
}

export interface ResolvedPlugin {
  /** The name as written in the config. */
  request: string;
  /** The absolute module file. */
  file: string;
}

/** A config's plugin entry in its parts: `'x'`, `['x', options]` or `{ name: 'x', options, allowOutside }`. */
export function pluginEntryParts(entry: PluginEntry): { request: string; options?: Record<string, unknown>; allowOutside: boolean } {
  if (typeof entry === 'string') return { request: entry, allowOutside: false };
  if (Array.isArray(entry)) return { request: entry[0], options: entry[1], allowOutside: false };
  return { request: entry.name, options: entry.options, allowOutside: entry.allowOutside === true };
}

/**
 * Why a plugin name (not a path) could leave the package it names, or undefined. A name is
 * an npm package name, optionally with a file inside it (`module:pkg/dist/x.js`); `..`, `.`,
 * empty segments, backslashes, drive letters and NUL would let require() walk out of
 * node_modules onto any file.
 */
function bareNameProblem(request: string): string | undefined {
  const name = request.startsWith('module:') ? request.slice('module:'.length) : request;
  if (!name) return 'it is empty';
  if (/[\\\0]/.test(name)) return 'it contains a backslash or NUL';
  if (name.includes(':')) return 'it contains ":" (a drive or URL)';
  const segments = name.split('/');
  if (segments.some((s) => s === '' || s === '.' || s === '..')) return 'a path segment is empty, "." or ".."';
  return undefined;
}

function inside(dir: string, file: string): boolean {
  const rel = relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

/** require.resolve from the project, else from the toolkit's install unless the package found there is private. */
function resolveCandidate(candidate: string, fromDir: string): string {
  try {
    return require.resolve(candidate, { paths: [fromDir] });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
  }
  const file = require.resolve(candidate, { paths: [__dirname] });
  if (installedManifest(candidate, [__dirname]) && !publicManifest(candidate, [__dirname])) {
    throw Object.assign(new Error(`Cannot find module '${candidate}' (only a private package of the toolkit's own workspace has that name)`), { code: 'MODULE_NOT_FOUND' });
  }
  return file;
}

/** The package's manifest when it is installed and not marked private. */
function publicManifest(pkg: string, paths: string[]): string | undefined {
  const manifest = installedManifest(pkg, paths);
  return manifest && !isPrivateManifest(manifest) ? manifest : undefined;
}

/**
 * Finds a plugin's module file. Names resolve from the config file's folder first, then
 * from this toolkit's own install, so plugins installed beside the CLI are found too (but
 * not the private packages of the toolkit's own workspace, such as test fixtures).
 */
export function resolvePlugin(request: string, fromDir: string, where: string, options: { allowOutside?: boolean } = {}): ResolvedPlugin {
  if (isPath(request)) {
    const target = resolve(fromDir, request);
    let file: string;
    try {
      file = require.resolve(target);
    } catch {
      throw new PluginError(`Cannot find plugin file "${request}" (${where}): ${target} does not exist. Paths are relative to the config file's folder.`);
    }
    // Checked on real paths, so a symlink inside the folder that points out counts as outside.
    if (!options.allowOutside && !inside(realpathOr(fromDir), realpathOr(file))) {
      throw new PluginError(
        `Plugin "${request}" (${where}) resolves to ${realpathOr(file)}, outside the config file's folder ${fromDir}. ` +
          `Plugins are code that runs with your rights: move the file into that folder, install it as a package, or, if you trust it, write the entry as { "name": ${JSON.stringify(request)}, "allowOutside": true }.`,
      );
    }
    return { request, file };
  }
  const problem = bareNameProblem(request);
  if (problem) {
    throw new PluginError(
      `Plugin name "${request}" (${where}) is not a package name: ${problem}. A name resolves only to an installed package in node_modules; ` +
        `to load a file, write a path relative to the config file's folder ("./my-plugin.js"), with "allowOutside": true in an object entry if it lies outside that folder.`,
    );
  }
  const tried = pluginNameCandidates(request);
  for (const candidate of tried) {
    try {
      return { request, file: resolveCandidate(candidate, fromDir) };
    } catch (err) {
      // Only "not found" means "try the next name"; a broken package must surface.
      if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw err;
      const manifest = installedManifest(candidate, [fromDir]) ?? publicManifest(candidate, [__dirname]);
      if (manifest) {
        throw new PluginError(
          `Plugin package ${candidate} (${where}) is installed at ${dirname(manifest)} but its entry point cannot be resolved; build it (npm run build) or reinstall it.`,
        );
      }
    }
  }
  const installed = pluginPackagesFor(fromDir);
  const close = closeMatches(request, [...installed, ...installed.map(shortPluginName)]);
  const hint = close.length ? ` Did you mean ${close.map((c) => `"${c}"`).join(' or ')}?` : '';
  throw new PluginError(
    `Cannot find plugin "${request}" (${where}). Tried: ${tried.join(', ')} from ${fromDir}.${hint} Install it (npm install ${tried[0]}) or fix the name.`,
  );
}

/** Loads a resolved plugin module and returns the plugin object it exports. */
export async function importPlugin(resolved: ResolvedPlugin, where: string): Promise<Plugin> {
  let mod: unknown;
  preparePluginLoad(resolved.file, resolved.request, where);
  try {
    // require handles CommonJS and (Node >= 20.19) synchronous ESM; import() the rest.
    try {
      mod = require(resolved.file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw err;
      mod = await import(require('node:url').pathToFileURL(resolved.file).href);
    }
  } catch (err) {
    const missing = (err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? /Cannot find module '([^']+)'/.exec(errorMessage(err))?.[1] : undefined;
    const hint = missing ? ` (${missing} is a dependency the plugin's package must install: run npm install in ${packageRootOf(resolved.file).root}, or add it to its dependencies)` : '';
    throw new PluginError(`Plugin "${resolved.request}" (${where}) failed to load from ${resolved.file}: ${errorMessage(err).split('\n')[0]}${hint}`, { cause: err });
  }
  // `export default` compiled to CommonJS arrives as { default: plugin }, maybe twice over.
  let plugin = mod as { default?: unknown; meta?: unknown };
  while (plugin && typeof plugin === 'object' && !('meta' in plugin) && 'default' in plugin) {
    plugin = plugin.default as typeof plugin;
  }
  const problems = pluginShapeProblems(plugin);
  if (problems.length) {
    throw new PluginError(`Module ${resolved.file} (plugin "${resolved.request}", ${where}) is not a leantune plugin: ${problems.join('; ')}.`);
  }
  return plugin as unknown as Plugin;
}

/** Where a loaded plugin came from: its real file, and the package that file belongs to (nearest package.json). */
export interface PluginOrigin {
  file: string;
  package?: { name: string; version: string; manifest: string };
  /** Set when the plugin's meta.name claims a package it does not come from; the toolkit logs it once, when applying it. */
  warning?: string;
}

function readManifest(manifest: string): { name?: unknown; version?: unknown } | undefined {
  try {
    return JSON.parse(readFileSync(manifest, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The real file and its package's name and version, read from the package's own package.json. */
export function pluginOrigin(file: string): PluginOrigin {
  const real = realpathOr(file);
  const { manifest } = packageRootOf(real);
  const pkg = manifest ? readManifest(manifest) : undefined;
  if (!manifest || typeof pkg?.name !== 'string') return { file: real };
  return { file: real, package: { name: pkg.name, version: typeof pkg.version === 'string' ? pkg.version : '?', manifest } };
}

/** True when `file` is what requiring its package's folder gives (the package's entry point). */
function isPackageEntry(origin: PluginOrigin): boolean {
  if (!origin.package) return false;
  try {
    return realpathOr(require.resolve(dirname(origin.package.manifest))) === origin.file;
  } catch {
    return false;
  }
}

/**
 * A plugin whose meta.name is not its package's name is reported: named by a package name,
 * or being a package's entry point, it must carry that package's name; a loose file (a
 * project's own plugin) may call itself anything except a package installed elsewhere, so a
 * file cannot pass itself off as `@leantune/plugin-lora`.
 */
function identityWarning(plugin: Plugin, resolved: ResolvedPlugin, origin: PluginOrigin, fromDir: string): string | undefined {
  const claimed = plugin.meta.name;
  const pkg = origin.package;
  if (pkg?.name === claimed) return undefined;
  const elsewhere = bareNameProblem(claimed) ? undefined : (installedManifest(claimed, [fromDir]) ?? publicManifest(claimed, [__dirname]));
  const claimsOther = elsewhere !== undefined && dirname(realpathOr(elsewhere)) !== (pkg && dirname(pkg.manifest));
  if (isPath(resolved.request) && !isPackageEntry(origin) && !claimsOther) return undefined;
  const from = pkg ? `package ${pkg.name}@${pkg.version} (${pkg.manifest})` : 'no package (no package.json above it)';
  return `plugin "${resolved.request}" calls itself ${claimed} (meta.name), but the file that ran is ${origin.file}, from ${from}. It is listed by its file; make sure it is the plugin you meant to enable.`;
}

/** Resolves, loads and identifies a plugin: what a config's plugin entry becomes. */
export async function loadPlugin(request: string, fromDir: string, where: string, options: { allowOutside?: boolean } = {}): Promise<PluginUse> {
  const resolved = resolvePlugin(request, fromDir, where, options);
  const plugin = await importPlugin(resolved, where);
  const origin = pluginOrigin(resolved.file);
  const warning = identityWarning(plugin, resolved, origin, fromDir);
  return { plugin, where, origin: warning ? { ...origin, warning: `${warning} (${where})` } : origin };
}
