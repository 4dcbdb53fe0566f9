import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type { BackendWasm };

/** The kernel function registered for wasm right now (stock, or ours once installed). */
export function wasmKernelFunc(kernelName: string): tf.KernelFunc {
  const config = tf.getKernel(kernelName, 'wasm');
  if (config == null) {
    throw new Error(`wasm kernel '${kernelName}' is not registered: load @tensorflow/tfjs-backend-wasm before installing the training kernels`);
  }
  return config.kernelFunc;
}

/** Runs a kernel function backend-side (no engine bookkeeping); the caller owns the result. */
export function runKernel(
  kernel: tf.KernelFunc,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const out = kernel({ inputs, backend, attrs });
  if (Array.isArray(out)) throw new Error('wasm training kernels: expected a kernel with one output');
  return out;
}

export function runWasm(
  kernelName: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  return runKernel(wasmKernelFunc(kernelName), backend, inputs, attrs);
}

export function reshapeInfo(backend: BackendWasm, x: tf.TensorInfo, shape: number[]): tf.TensorInfo {
  return runWasm(tf.Reshape, backend, { x }, { shape });
}

/** Swaps the two innermost axes into a new, contiguous tensor. */
export function transposeInner(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return runWasm(tf.Transpose, backend, { x }, { perm });
}

/** Collects intermediates and frees them together, whatever happens in between. */
export class Intermediates {
  private readonly infos: tf.TensorInfo[] = [];
  constructor(private readonly backend: BackendWasm) {}

  keep(info: tf.TensorInfo): tf.TensorInfo {
    this.infos.push(info);
    return info;
  }

  dispose(): void {
    for (const info of this.infos.splice(0)) this.backend.disposeData(info.dataId);
  }
}
