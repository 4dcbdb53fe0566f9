import type { NativeAddon } from './addon';
import { installNativeElementwise } from './wasm-elementwise';
import { installNativeMatMul } from './wasm-matmul';
import { installNativeMovement } from './wasm-movement';
import { replacedWasmKernels, restoreWasmKernels } from './wasm-registry';

export interface NativeKernelOptions {
  /** Elementwise ops and reductions as well as matmuls (default true). */
  elementwise?: boolean;
  /** Transpose, GatherV2 and UnsortedSegmentSum (default true). */
  movement?: boolean;
}

/**
 * Puts the native kernels on the wasm backend, in front of whatever is registered (install
 * @leantune/tensor's wasm training kernels first so that fallbacks reach them). Idempotent.
 */
export function installNativeWasmKernels(addon: NativeAddon, options: NativeKernelOptions = {}): void {
  installNativeMatMul(addon);
  if (options.elementwise ?? true) installNativeElementwise(addon);
  if (options.movement ?? true) installNativeMovement(addon);
}

/** Restores the kernels that were registered before installNativeWasmKernels. */
export function uninstallNativeWasmKernels(): void {
  restoreWasmKernels();
}

/** Names of the wasm kernels the native ones replace right now. */
export function nativeWasmKernels(): string[] {
  return replacedWasmKernels();
}

export function nativeWasmKernelsInstalled(): boolean {
  return replacedWasmKernels().length > 0;
}
