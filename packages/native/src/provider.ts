import { registerBackendProvider, tf, type ActivatedBackend, type BackendProvider } from '@leantune/tensor';
import { loadAddon, type NativeAddon } from './addon';
import { NATIVE_BACKEND_NAME, NativeBackend, type NativeBackendOptions } from './backend';
import { registerNativeKernels } from './kernels';

/** Below the cpu backend (1): tfjs never picks this one by itself; initBackend does. */
const PRIORITY = 0;

/**
 * Registers the tfjs backend 'native' (a NativeBackend over `addon`, the loaded addon by
 * default) and its kernels. Does nothing and returns false when it is registered already;
 * tests that want another addon remove it first (tf.removeBackend('native')).
 */
export function registerNativeTfjsBackend(options: NativeBackendOptions & { addon?: NativeAddon } = {}): boolean {
  registerNativeKernels();
  if (tf.findBackendFactory(NATIVE_BACKEND_NAME) != null) return false;
  const addon = options.addon ?? loadAddon();
  tf.registerBackend(NATIVE_BACKEND_NAME, () => new NativeBackend(addon, options), PRIORITY);
  return true;
}

/**
 * The `native` slot: tfjs's cpu backend with tensors in ordinary TypedArrays (no 4 GiB wasm
 * heap; the process's memory, under a budget, is the limit) and its hot kernels computed by
 * the addon. tfjs knows it as 'native'.
 */
export const nativeBackendProvider: BackendProvider = {
  async activate({ threads, memoryLimit }): Promise<ActivatedBackend> {
    registerNativeTfjsBackend({ addon: loadAddon(), memoryLimit });
    if (!(await tf.setBackend(NATIVE_BACKEND_NAME))) throw new Error(`tf.setBackend('${NATIVE_BACKEND_NAME}') failed; tfjs logged the cause above`);
    const backend = tf.backend() as NativeBackend;
    if (memoryLimit != null) backend.setMemoryLimit(memoryLimit);
    // The backend's addon (a test may have registered a counting one) computes with these threads.
    backend.addon.setThreads(threads);
    const info = backend.addon.info();
    return { tfjsName: NATIVE_BACKEND_NAME, threads: info.threads, simd: info.isa !== 'scalar' };
  },
};

/** Fills the `native` slot of @leantune/tensor's backend order (done when this package loads). */
export function registerNativeBackend(): () => void {
  return registerBackendProvider('native', nativeBackendProvider);
}
