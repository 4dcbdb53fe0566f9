import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from './kernel-utils';

/**
 * UnsortedSegmentSum for wasm, which has none in tfjs 4.22, so the gradient of `tf.gather`
 * (every embedding lookup) fails there. Computed in JS over the backend's heap: one pass
 * over x, O(size) instead of the cpu kernel's O(size · numSegments).
 *
 * Semantics follow the cpu kernel: out[s] = Σ x[i] over rows with segmentIds[i] = s; ids
 * < 0 or >= numSegments are dropped; the result is float32 even for int32 x (the cpu kernel
 * multiplies by a float mask). Sums accumulate in float64, as the cpu Sum kernel does.
 * One deliberate difference: a NaN/Inf row only affects its own segment, where the cpu
 * kernel's 0·Inf spreads NaN to all segments.
 */
export function unsortedSegmentSum(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): tf.TensorInfo {
  const backend = args.backend as BackendWasm;
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  if (segmentIds.shape.length !== 1 || x.shape.length < 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `UnsortedSegmentSum (wasm): segmentIds must be 1-D with one id per row of x; got segmentIds [${segmentIds.shape}] ` +
        `for x [${x.shape}] (reshape x to [rows, ...] and the ids to [rows])`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum (wasm): numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (wasm): x must be float32 or int32, got ${x.dtype}`);
  }
  const rows = x.shape[0];
  const rowSize = tf.util.sizeFromShape(x.shape.slice(1));
  const sums = new Float64Array(numSegments * rowSize);
  const values = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds);
  for (let row = 0; row < rows; row++) {
    const segment = ids[row];
    if (segment < 0 || segment >= numSegments) continue;
    const src = row * rowSize;
    const dst = segment * rowSize;
    for (let j = 0; j < rowSize; j++) sums[dst + j] += values[src + j];
  }
  return backend.makeOutput([numSegments, ...x.shape.slice(1)], 'float32', undefined, Float32Array.from(sums));
}
