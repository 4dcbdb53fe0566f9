import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { activate, cores, resolveOptional } from './provider-utils';
import { type ActivatedBackend, type BackendProvider, BackendUnavailableError } from './types';

/**
 * tfjs-node(-gpu) 4.22 on load: registers all its kernels for backend 'tensorflow', imports
 * `@tensorflow/tfjs` (the union: tfjs-core, layers, converter, data, cpu and webgl
 * backends), then requires its native addon and calls registerBackend('tensorflow') and
 * setBackend('tensorflow') on the tfjs-core that the union resolves.
 *
 * - tfjs-core keeps its engine and kernel registry on a global (`_tfengine`,
 *   `kernelRegistry`), so even a second copy of tfjs-core registers where we look; what a
 *   second copy breaks is version agreement of ops and `instanceof` between copies. We check
 *   the backend is visible on our tfjs-core and the versions agree, and say when the union
 *   resolved another tfjs-core file (npm dedupes it to ours at 4.22.0).
 * - When npm installs the package but its install step could not download libtensorflow
 *   (as on a machine without internet), the addon is missing and loading the package throws
 *   after all those side effects. We look for the addon first, from the package's
 *   node-pre-gyp `binary` settings: without it the package counts as not installed (the
 *   install could not complete here), which `auto` skips silently. A package that has its
 *   addon and still fails to load is a real failure; it is remembered, not loaded again.
 */

interface PreGypBinary {
  module_name?: string;
  module_path?: string;
  napi_versions?: number[];
}

function packageDir(pkg: string, entry: string): string {
  for (let dir = path.dirname(entry); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === pkg) return dir;
  }
  throw new Error(`${pkg}: no package.json found above ${entry}`);
}

function assertNativeAddon(pkg: string, dir: string): void {
  const binary = (JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')) as { binary?: PreGypBinary }).binary;
  if (binary?.module_name == null || binary.module_path == null) return;
  const modulePath = binary.module_path;
  const versions = binary.napi_versions?.length ? binary.napi_versions : [0];
  const candidates = versions.map((v) => path.join(dir, modulePath.replace('{napi_build_version}', String(v)), `${binary.module_name}.node`));
  if (!candidates.some((file) => fs.existsSync(file))) {
    throw new BackendUnavailableError(
      `${pkg} is installed but its native addon ${binary.module_name}.node is missing under ${path.join(dir, 'lib')} ` +
        `(its install step downloads libtensorflow, which failed here): run npm rebuild ${pkg}, or choose another backend`,
    );
  }
}

function coreResolvedBy(entry: string): string | null {
  try {
    const union = require.resolve('@tensorflow/tfjs', { paths: [path.dirname(entry)] });
    return require.resolve('@tensorflow/tfjs-core', { paths: [path.dirname(union)] });
  } catch {
    return null;
  }
}

function load(pkg: string, entry: string, log: (msg: string) => void): void {
  assertNativeAddon(pkg, packageDir(pkg, entry));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const loaded = require(entry) as { version?: Record<string, string> };
  const ours = require.resolve('@tensorflow/tfjs-core');
  const theirs = coreResolvedBy(entry);
  if (theirs != null && theirs !== ours) log(`${pkg} resolved a second @tensorflow/tfjs-core (${theirs}; ours: ${ours}); run npm dedupe`);
  const theirVersion = loaded.version?.['tfjs-core'];
  if (theirVersion != null && theirVersion !== tf.version_core) {
    throw new Error(`${pkg} runs on @tensorflow/tfjs-core ${theirVersion}, leantune on ${tf.version_core}: install ${pkg}@${tf.version_core}`);
  }
  if (tf.findBackendFactory('tensorflow') == null) {
    throw new Error(`${pkg} loaded but no 'tensorflow' backend is registered on the tfjs-core at ${ours}`);
  }
}

/** `searchFrom`: where to resolve `pkg` from (default: this package). */
export function createTfjsNodeProvider(pkg: string, searchFrom?: string): BackendProvider {
  let failure: Error | null = null;
  return {
    async activate({ log }): Promise<ActivatedBackend> {
      const install = `npm i ${pkg} (optional; its install downloads libtensorflow for ${process.platform}-${process.arch})`;
      const entry = resolveOptional(pkg, install, searchFrom);
      if (failure != null) throw failure;
      try {
        load(pkg, entry, log);
      } catch (error) {
        if (error instanceof BackendUnavailableError) throw error;
        failure = error instanceof Error ? error : new Error(String(error));
        throw failure;
      }
      await activate('tensorflow');
      return { tfjsName: 'tensorflow', threads: cores(), simd: false };
    },
  };
}
