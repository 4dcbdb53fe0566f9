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

/** Square tiles of this side keep a transpose's reads and writes in cache. */
const TILE = 8;

/**
 * Swaps the two innermost axes into a new, contiguous tensor. Done in JS over the wasm
 * heap rather than with the wasm Transpose kernel: that kernel moves ~22 ns/element on a
 * 1024² matrix here (a plain strided loop), this tiled copy ~3 ns, and a transpose
 * precedes every matmul of a backward pass. Pure data movement: values are unchanged.
 */
export function transposeInner(backend: BackendWasm, x: tf.TensorInfo): tf.TensorInfo {
  const rank = x.shape.length;
  const [rows, cols] = [x.shape[rank - 2], x.shape[rank - 1]];
  const out = backend.makeOutput([...x.shape.slice(0, -2), cols, rows], x.dtype);
  // Views after the allocation: growing wasm memory replaces the heap buffer.
  const src = backend.typedArrayFromHeap(x);
  const dst = backend.typedArrayFromHeap(out);
  const plane = rows * cols;
  for (let base = 0; base < src.length; base += plane) {
    for (let i0 = 0; i0 < rows; i0 += TILE) {
      const iEnd = Math.min(i0 + TILE, rows);
      for (let j0 = 0; j0 < cols; j0 += TILE) {
        const jEnd = Math.min(j0 + TILE, cols);
        for (let i = i0; i < iEnd; i++) {
          for (let j = j0, s = base + i * cols + j0, d = base + j0 * rows + i; j < jEnd; j++, s++, d += rows) dst[d] = src[s];
        }
      }
    }
  }
  return out;
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
