import * as tf from '@tensorflow/tfjs-core';

/**
 * UnsortedSegmentSum in one pass over x, O(size), where tfjs's cpu kernel is
 * O(size · numSegments) (a mask per segment) and wasm has none at all. It is the gradient
 * of `tf.gather`, i.e. of every embedding lookup, so its cost grows with the vocabulary.
 *
 * Semantics follow the cpu kernel: out[s] = Σ x[i] over rows with segmentIds[i] = s; ids
 * < 0 or >= numSegments are dropped; the result is float32 even for int32 x. Sums
 * accumulate in float64. One deliberate difference: a NaN/Inf row only affects its own
 * segment, where the cpu kernel's 0·Inf spreads NaN to all segments.
 */
export function checkSegmentSumArgs(backendName: string, x: tf.TensorInfo, segmentIds: tf.TensorInfo, numSegments: number): void {
  if (segmentIds.shape.length !== 1 || x.shape.length < 1 || segmentIds.shape[0] !== x.shape[0]) {
    throw new Error(
      `UnsortedSegmentSum (${backendName}): segmentIds must be 1-D with one id per row of x; got segmentIds [${segmentIds.shape}] ` +
        `for x [${x.shape}] (reshape x to [rows, ...] and the ids to [rows])`,
    );
  }
  if (!Number.isInteger(numSegments) || numSegments < 0) {
    throw new Error(`UnsortedSegmentSum (${backendName}): numSegments must be a non-negative integer, got ${numSegments}`);
  }
  if (x.dtype !== 'float32' && x.dtype !== 'int32') {
    throw new Error(`UnsortedSegmentSum (${backendName}): x must be float32 or int32, got ${x.dtype}`);
  }
}

export function segmentSumRows(values: ArrayLike<number>, ids: ArrayLike<number>, xShape: number[], numSegments: number): Float32Array {
  const rows = xShape[0];
  const rowSize = tf.util.sizeFromShape(xShape.slice(1));
  const sums = new Float64Array(numSegments * rowSize);
  for (let row = 0; row < rows; row++) {
    const segment = ids[row];
    if (segment < 0 || segment >= numSegments) continue;
    const src = row * rowSize;
    const dst = segment * rowSize;
    for (let j = 0; j < rowSize; j++) sums[dst + j] += values[src + j];
  }
  return Float32Array.from(sums);
}
