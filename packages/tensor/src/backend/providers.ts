import * as tf from '@tensorflow/tfjs-core';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';
import { activate, resolveOptional } from './provider-utils';
import { createTfjsNodeProvider } from './tfjs-node';
import type { ActivatedBackend, BackendProvider, BackendSlot } from './types';
import { installWasmTrainingKernels } from './wasm/install';
import { MAX_WASM_THREADS, useThreadedWasmFactory } from './wasm/threads';

const wasmProvider: BackendProvider = {
  async activate({ threads, log }): Promise<ActivatedBackend> {
    resolveOptional('@tensorflow/tfjs-backend-wasm', `npm i @tensorflow/tfjs-backend-wasm@${tf.version_core}`);
    // Loaded on demand: it registers the wasm backend, its kernels and its flags.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof TfWasm;
    const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    // Threads need the SIMD build; tfjs-backend-wasm allows at most MAX_WASM_THREADS.
    const wanted = simd ? Math.min(threads, MAX_WASM_THREADS) : 1;
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

/** The package that fills the `native` slot; it depends on us, so it is found at run time. */
export const NATIVE_PACKAGE = '@leantune/native';

/**
 * `native`: @leantune/native (a native GEMM under the wasm backend), when installed. Loading
 * it registers its own provider in this slot; we delegate to that one. Absent package or
 * unbuilt addon: BackendUnavailableError, skipped silently by `auto`. `pkg`: for tests.
 */
export function createNativeProvider(pkg: string = NATIVE_PACKAGE): BackendProvider {
  return {
    async activate(context): Promise<ActivatedBackend> {
      resolveOptional(pkg, `npm i ${pkg} (builds a C++ addon with g++ at install)`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const native = require(pkg) as { nativeBackendProvider?: BackendProvider };
      if (native.nativeBackendProvider == null) throw new Error(`${pkg} exports no nativeBackendProvider; install a version matching @leantune/tensor`);
      return native.nativeBackendProvider.activate(context);
    },
  };
}

export function builtInProviders(): Map<BackendSlot, BackendProvider> {
  return new Map<BackendSlot, BackendProvider>([
    ['tfjs-node-gpu', createTfjsNodeProvider('@tensorflow/tfjs-node-gpu')],
    ['tfjs-node', createTfjsNodeProvider('@tensorflow/tfjs-node')],
    ['native', createNativeProvider()],
    ['wasm', wasmProvider],
    ['cpu', cpuProvider],
  ]);
}
