import { broadcastBatchIndex, planBatchMatMul, tf } from '@leantune/tensor';

/** Shapes of one (batched, broadcast) matmul, as the native kernel takes them. */
export interface MatMulPlan {
  m: number;
  k: number;
  n: number;
  /** Output batch count (product of the broadcast batch dims). */
  batch: number;
  outShape: number[];
  /** Per output batch, the batch of a / b it reads; null where the addon's default (o, or 0) is right. */
  aIndex: Int32Array | null;
  bIndex: Int32Array | null;
}

/** Index array for one side, or null when that side has 1 batch or exactly the output's. */
function batchIndex(inBatch: number[], outBatch: number[], outSize: number): Int32Array | null {
  const size = tf.util.sizeFromShape(inBatch);
  if (size === 1) return null;
  const same = inBatch.length === outBatch.length && inBatch.every((d, i) => d === outBatch[i]);
  if (same) return null;
  const index = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) index[o] = broadcastBatchIndex(o, outBatch, inBatch);
  return index;
}

export function planMatMul(kernelName: string, aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  const { m, k, n, batchA, batchB, outBatch, outSize, outShape } = planBatchMatMul(kernelName, aShape, bShape, transposeA, transposeB, 'native');
  return {
    m, k, n, batch: outSize, outShape,
    aIndex: batchIndex(batchA, outBatch, outSize),
    bIndex: batchIndex(batchB, outBatch, outSize),
  };
}
