import { initBackend, registerBackendProvider, type ActivatedBackend, type BackendProvider } from '@leantune/tensor';
import { loadAddon } from './addon';
import { installNativeWasmKernels, uninstallNativeWasmKernels } from './wasm-kernels';

/**
 * The `native` slot: the wasm backend (threads, SIMD, @leantune/tensor's training kernels)
 * with its matmuls computed by the native GEMM on the wasm heap. Every other kernel stays
 * wasm. tfjs knows the backend as 'wasm'; runs record it as 'native'.
 */
export const nativeBackendProvider: BackendProvider = {
  async activate({ threads, log }): Promise<ActivatedBackend> {
    const addon = loadAddon();
    // The public way to start wasm exactly as the wasm slot does; the outer initBackend
    // records this slot ('native') as the active one once we return.
    const wasm = await initBackend({ backend: 'wasm', threads, log });
    addon.setThreads(threads);
    installNativeWasmKernels(addon);
    return { tfjsName: 'wasm', threads: addon.info().threads, simd: wasm.simd };
  },
  deactivate(): void {
    uninstallNativeWasmKernels();
  },
};

/** Fills the `native` slot of @leantune/tensor's backend order (done when this package loads). */
export function registerNativeBackend(): () => void {
  return registerBackendProvider('native', nativeBackendProvider);
}
