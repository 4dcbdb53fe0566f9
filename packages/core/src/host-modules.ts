import { existsSync, readFileSync, realpathSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join, sep } from 'node:path';
import semver from 'semver';
import { PluginError } from './errors';
import { CORE_VERSION } from './version';

/**
 * Plugins share the host's leantune, as webpack and Babel plugins share their host: a
 * plugin declares `@leantune/core` as a peer dependency, and every `@leantune/*` request
 * made from a loaded plugin's files resolves to the copy this core (the CLI's) uses.
 * So a plugin installed from a folder (a symlink, with no node_modules of its own), or one
 * that carries a second copy of core for its own tests, still gets the one core and the
 * one tfjs instance the run uses.
 */

/** This package's own folder (core's `dist/` or `src/` lives right under it). */
const CORE_ROOT = join(__dirname, '..');
const CORE = '@leantune/core';
/** Packages there must be exactly one of: always the host's copy. */
const SINGLETONS = new Set([CORE, '@leantune/tensor']);

const pluginRoots = new Set<string>();
let hooked = false;

function packageName(request: string): string {
  return request.split('/').slice(0, 2).join('/');
}

/** The file the host's own copy of `request` is, or undefined when the host has none. */
export function hostModuleFile(request: string): string | undefined {
  try {
    if (packageName(request) === CORE) return require.resolve(join(CORE_ROOT, request.slice(CORE.length)));
    return require.resolve(request, { paths: [CORE_ROOT] });
  } catch {
    return undefined;
  }
}

function insidePlugin(file: string): boolean {
  for (const root of pluginRoots) if (file === root || file.startsWith(root + sep)) return true;
  return false;
}

function installHook(): void {
  if (hooked) return;
  hooked = true;
  const M = Module as unknown as { _resolveFilename: (request: string, parent: { filename?: string } | undefined, ...rest: unknown[]) => string };
  const original = M._resolveFilename;
  M._resolveFilename = function (request, parent, ...rest) {
    if (request.startsWith('@leantune/') && parent?.filename && insidePlugin(parent.filename)) {
      // Core and tensor always come from the host; other leantune packages only when the plugin has none.
      if (SINGLETONS.has(packageName(request))) {
        const host = hostModuleFile(request);
        if (host) return host;
      } else {
        try {
          return original.call(this, request, parent, ...rest);
        } catch (err) {
          const host = hostModuleFile(request);
          if (host) return host;
          throw err;
        }
      }
    }
    return original.call(this, request, parent, ...rest);
  };
}

/** The folder of the package a file belongs to (its nearest package.json), else the file's folder. */
export function packageRootOf(file: string): { root: string; manifest?: string } {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) return { root: dir, manifest };
    if (dirname(dir) === dir) return { root: dirname(file) };
  }
}

/** The @leantune/core range a plugin's manifest declares (peer, then regular, then dev dependency). */
function declaredCoreRange(manifest: string): { range: string; field: string } | undefined {
  let pkg: Record<string, Record<string, string> | undefined>;
  try {
    pkg = JSON.parse(readFileSync(manifest, 'utf8'));
  } catch {
    return undefined;
  }
  for (const field of ['peerDependencies', 'dependencies', 'devDependencies']) {
    const range = pkg[field]?.[CORE];
    if (typeof range === 'string' && semver.validRange(range)) return { range, field };
  }
  return undefined;
}

/**
 * Before a plugin module is required: checks that its package accepts this core, then
 * makes its `@leantune/*` requests resolve to the host's copies.
 */
export function preparePluginLoad(file: string, request: string, where: string): void {
  const real = realpathSync(file);
  const { root, manifest } = packageRootOf(real);
  if (manifest) {
    const declared = declaredCoreRange(manifest);
    if (declared && !semver.satisfies(CORE_VERSION, declared.range, { includePrerelease: true })) {
      throw new PluginError(
        `Plugin "${request}" (${where}) is built for @leantune/core ${declared.range} (${declared.field} in ${manifest}), but this leantune runs @leantune/core ${CORE_VERSION}. ` +
          `Install a version of the plugin whose peerDependencies accept ${CORE_VERSION} (e.g. "${CORE}": "^${CORE_VERSION}"), or a leantune CLI whose core matches ${declared.range}.`,
      );
    }
  }
  pluginRoots.add(root);
  installHook();
}
