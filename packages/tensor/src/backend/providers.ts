import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import { type ActivatedBackend, type BackendProvider, type BackendSlot, BackendUnavailableError } from './types';
import { installWasmTrainingKernels } from './wasm/install';
import { MAX_WASM_THREADS, useThreadedWasmFactory } from './wasm/threads';

export function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function isModuleNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'MODULE_NOT_FOUND';
}

/** Resolves an optional package; its absence is a BackendUnavailableError, nothing louder. */
function resolveOptional(pkg: string, install: string): string {
  try {
    return require.resolve(pkg);
  } catch (error) {
    if (isModuleNotFound(error)) throw new BackendUnavailableError(`${pkg} is not installed: ${install}`);
    throw error;
  }
}

async function activate(tfjsName: string): Promise<void> {
  if (!(await tf.setBackend(tfjsName))) {
    throw new Error(`tf.setBackend('${tfjsName}') failed; tfjs logged the cause above`);
  }
}

/** Where `pkg`'s own `@tensorflow/tfjs` finds tfjs-core, or null if that cannot be told. */
function coreResolvedBy(pkgEntry: string): string | null {
  try {
    const union = require.resolve('@tensorflow/tfjs', { paths: [path.dirname(pkgEntry)] });
    return require.resolve('@tensorflow/tfjs-core', { paths: [path.dirname(union)] });
  } catch {
    return null;
  }
}

/**
 * tfjs-node(-gpu) 4.x imports `@tensorflow/tfjs` (the union package) and, on load, calls
 * `registerBackend('tensorflow', …)` and `setBackend('tensorflow')` on the tfjs-core that
 * package resolves. tfjs-core keeps its engine and kernel registry on a global
 * (`_tfengine`, `kernelRegistry`), so even a second copy registers where we look; what a
 * second copy does break is version agreement of ops and `instanceof` between copies. So we
 * check that the backend is visible on our tfjs-core, and say when tfjs-node resolved a
 * different tfjs-core file or version.
 */
function tfjsNodeProvider(pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): BackendProvider {
  return {
    async activate({ log }): Promise<ActivatedBackend> {
      const entry = resolveOptional(pkg, `npm i ${pkg} (optional; it needs libtensorflow prebuilt for ${process.platform}-${process.arch})`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const loaded = require(entry) as { version?: Record<string, string> };
      const ours = require.resolve('@tensorflow/tfjs-core');
      const theirs = coreResolvedBy(entry);
      if (theirs != null && theirs !== ours) log(`${pkg} resolved a second @tensorflow/tfjs-core (${theirs}, ours: ${ours}); run npm dedupe`);
      const theirVersion = loaded.version?.['tfjs-core'];
      if (theirVersion != null && theirVersion !== tf.version_core) {
        throw new Error(`${pkg} runs on @tensorflow/tfjs-core ${theirVersion}, leantune on ${tf.version_core}: install ${pkg}@${tf.version_core}`);
      }
      if (tf.findBackendFactory('tensorflow') == null) {
        throw new Error(`${pkg} loaded but no 'tensorflow' backend is registered on the tfjs-core at ${ours}`);
      }
      await activate('tensorflow');
      return { tfjsName: 'tensorflow', threads: cores(), simd: false };
    },
  };
}

const wasmProvider: BackendProvider = {
  async activate({ threads, log }): Promise<ActivatedBackend> {
    resolveOptional('@tensorflow/tfjs-backend-wasm', 'npm i @tensorflow/tfjs-backend-wasm@' + tf.version_core);
    // Loaded on demand: it registers the wasm backend, its kernels and its flags.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof TfWasm;
    const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    let wanted = simd ? threads : 1;
    if (wanted > MAX_WASM_THREADS) {
      log(`wasm: ${threads} threads asked, tfjs-backend-wasm allows at most ${MAX_WASM_THREADS}`);
      wanted = MAX_WASM_THREADS;
    }
    useThreadedWasmFactory(wasm, { threads: wanted, log });
    installWasmTrainingKernels();
    await activate('wasm');
    return { tfjsName: 'wasm', threads: wasm.getThreadsCount(), simd };
  },
};

const cpuProvider: BackendProvider = {
  async activate(): Promise<ActivatedBackend> {
    await activate('cpu');
    return { tfjsName: 'cpu', threads: 1, simd: false };
  },
};

/** `native` has no built-in provider: it is the slot for a future accelerated CPU package. */
export function builtInProviders(): Map<BackendSlot, BackendProvider> {
  return new Map<BackendSlot, BackendProvider>([
    ['tfjs-node-gpu', tfjsNodeProvider('@tensorflow/tfjs-node-gpu')],
    ['tfjs-node', tfjsNodeProvider('@tensorflow/tfjs-node')],
    ['wasm', wasmProvider],
    ['cpu', cpuProvider],
  ]);
}
