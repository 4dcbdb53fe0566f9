import * as tf from '@tensorflow/tfjs-core';
import type { QuantizedWeight } from '../quant/quantized-weight';

/**
 * Work a backend may do natively beyond tfjs kernels, offered as methods on the backend
 * object. Callers ask the active backend (`backendCapability`) and fall back to stock ops
 * when it lacks one, so every backend computes the same thing and only speed differs.
 */

/** torch.optim.AdamW's hyperparameters for one parameter's step (bias corrections precomputed). */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ for this parameter's step t. */
  biasCorrection1: number;
  biasCorrection2: number;
}

export interface RandomFill {
  kind: 'uniform' | 'normal';
  /** uniform: [a, b); normal: mean a, standard deviation b. */
  a: number;
  b: number;
  seed: number;
}

export interface BackendCapabilities {
  /**
   * Updates param, m and v in place with one AdamW step from `grad`. Returns false (having
   * changed nothing) when it cannot, e.g. a variable's storage is shared with another tensor.
   */
  adamwInPlace(param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, step: AdamWStep): boolean;
  /** A float32 tensor of `shape` filled from the seeded generator of this backend. */
  randomFill(shape: readonly number[], fill: RandomFill): tf.Tensor;
  /**
   * x·Wᵀ (transposeW) or x·W for a quantized [out, in] weight, dequantizing inside the GEMM
   * (see quantizedMatMul in @leantune/tensor). Returns undefined when it cannot (a format it
   * does not read), and the caller dequantizes in JS.
   */
  quantizedMatMul(x: tf.Tensor2D, weight: QuantizedWeight, transposeW: boolean): tf.Tensor2D | undefined;
}

/** The active backend's implementation of `name`, bound to it, or undefined. */
export function backendCapability<K extends keyof BackendCapabilities>(name: K): BackendCapabilities[K] | undefined {
  const backend = tf.backend() as unknown as Partial<BackendCapabilities>;
  const fn = backend[name];
  return typeof fn === 'function' ? (fn.bind(backend) as BackendCapabilities[K]) : undefined;
}
