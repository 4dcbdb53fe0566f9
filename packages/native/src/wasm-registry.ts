import { tf } from '@leantune/tensor';

/** Kernels replaced on wasm, with the config each delegates to and is restored to. */
const replaced = new Map<string, tf.KernelConfig>();

/**
 * Registers make(previous kernel) for wasm in place of the kernel registered now. The
 * previous config's setup function stays: it binds the wasm exports the fallback calls.
 */
export function replaceWasmKernel(kernelName: string, make: (fallback: tf.KernelFunc) => tf.KernelFunc): void {
  if (replaced.has(kernelName)) return;
  const current = tf.getKernel(kernelName, 'wasm');
  if (current == null) {
    throw new Error(`wasm kernel '${kernelName}' is not registered: load @tensorflow/tfjs-backend-wasm before installing the native kernels`);
  }
  replaced.set(kernelName, current);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ ...current, kernelFunc: make(current.kernelFunc) });
}

/** Puts back every kernel replaceWasmKernel replaced. */
export function restoreWasmKernels(): void {
  for (const [kernelName, previous] of replaced) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(previous);
  }
  replaced.clear();
}

export function replacedWasmKernels(): string[] {
  return [...replaced.keys()];
}
