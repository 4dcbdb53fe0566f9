import * as tf from '@tensorflow/tfjs-core';
import { makeBatchMatMul, makeFusedMatMul } from './batch-matmul';
import { unsortedSegmentSum } from './unsorted-segment-sum';

/**
 * Registers our training kernels on the wasm backend and keeps the stock configs, both to
 * delegate to and to restore. Kernel registrations are global to tfjs-core, so this works
 * before or after the wasm backend is instantiated: our configs carry the stock setup
 * functions, which bind the wasm exports the stock kernel functions call.
 */

/** Stock config per kernel we replaced; null where wasm had none (UnsortedSegmentSum). */
const stockConfigs = new Map<string, tf.KernelConfig | null>();

function stockKernel(kernelName: string): tf.KernelConfig {
  const stock = tf.getKernel(kernelName, 'wasm');
  if (stock == null) {
    throw new Error(`wasm kernel '${kernelName}' is not registered: load @tensorflow/tfjs-backend-wasm before installing the training kernels`);
  }
  return stock;
}

function register(kernelName: string, stock: tf.KernelConfig | null, config: tf.KernelConfig): void {
  stockConfigs.set(kernelName, stock);
  if (stock != null) tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel(config);
}

/** Idempotent; `initBackend` calls it whenever it selects wasm. */
export function installWasmTrainingKernels(): void {
  if (stockConfigs.size > 0) return;
  const batchMatMul = stockKernel(tf.BatchMatMul);
  const fused = stockKernel(tf._FusedMatMul);
  register(tf.BatchMatMul, batchMatMul, { ...batchMatMul, kernelFunc: makeBatchMatMul(batchMatMul.kernelFunc) });
  register(tf._FusedMatMul, fused, { ...fused, kernelFunc: makeFusedMatMul(fused.kernelFunc, batchMatMul.kernelFunc) });
  // A later tfjs-backend-wasm may bring its own; then it is kept.
  if (tf.getKernel(tf.UnsortedSegmentSum, 'wasm') == null) {
    register(tf.UnsortedSegmentSum, null, { kernelName: tf.UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSum as tf.KernelFunc });
  }
}

/** Puts the stock wasm kernels back, e.g. to compare against them. */
export function uninstallWasmTrainingKernels(): void {
  for (const [kernelName, stock] of stockConfigs) {
    tf.unregisterKernel(kernelName, 'wasm');
    if (stock != null) tf.registerKernel(stock);
  }
  stockConfigs.clear();
}

export function wasmTrainingKernelsInstalled(): boolean {
  return stockConfigs.size > 0;
}
