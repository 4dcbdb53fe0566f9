import * as tf from '@tensorflow/tfjs-core';
import { backendCapability } from '../backend/capabilities';
import { customOp } from '../ops/fused';
import type { QuantizedWeight } from './quantized-weight';

/**
 * x·Wᵀ (`transposeW`, the forward: x [m, in] → [m, out]) or x·W (the input gradient:
 * dy [m, out] → [m, in]) for a quantized [out, in] W. A backend with the
 * `quantizedMatMul` capability (the native addon) reads the packed codes inside its GEMM and
 * never builds the fp32 weight; any other backend dequantizes W into a transient fp32 tensor
 * for this one product (correct, but the fp32 copy exists during the call, so only the
 * resident weights save memory there).
 */
export function quantizedMatMul(x: tf.Tensor2D, weight: QuantizedWeight, transposeW: boolean): tf.Tensor2D {
  const fused = backendCapability('quantizedMatMul');
  if (fused && x.dtype === 'float32') {
    const out = fused(x, weight, transposeW);
    if (out) return out;
  }
  return tf.tidy(() => {
    const w = tf.tensor2d(weight.dequantize(), [weight.rows, weight.cols]);
    return tf.matMul(x, w, false, transposeW);
  });
}

/**
 * y = x·Wᵀ + b for a frozen quantized weight: the backward gives dx = dy·W (from the packed
 * weight again) and, when the bias trains, its gradient; no weight gradient exists.
 */
export function quantizedLinear(x2d: tf.Tensor2D, weight: QuantizedWeight, bias: tf.Tensor | undefined, biasTrains: boolean): tf.Tensor2D {
  const forward = (x: tf.Tensor2D): tf.Tensor2D =>
    tf.tidy(() => {
      const y = quantizedMatMul(x, weight, true);
      return (bias ? tf.add(y, bias) : y) as tf.Tensor2D;
    });
  const dx = (dy: tf.Tensor) => quantizedMatMul(dy as tf.Tensor2D, weight, false);
  if (bias && biasTrains) {
    return customOp([x2d, bias], ([x, b]) => ({
      value: forward(x as tf.Tensor2D),
      gradFunc: (dy) => [dx(dy), tf.reshape(tf.sum(dy, 0), b.shape)],
    }));
  }
  return customOp([x2d], ([x]) => ({ value: forward(x as tf.Tensor2D), gradFunc: (dy) => dx(dy) }));
}
