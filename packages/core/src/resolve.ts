import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { PluginError, errorMessage } from './errors';
import { packageRootOf, preparePluginLoad } from './host-modules';
import { pluginShapeProblems, type Plugin } from './plugin';
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
export function resolvePlugin(request: string, fromDir: string, where: string): ResolvedPlugin {
  if (isPath(request)) {
    const target = resolve(fromDir, request);
    try {
      return { request, file: require.resolve(target) };
    } catch {
      throw new PluginError(`Cannot find plugin file "${request}" (${where}): ${target} does not exist. Paths are relative to the config file's folder.`);
    }
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
