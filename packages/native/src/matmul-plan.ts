import { tf } from '@leantune/tensor';

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

/** Flat index into a (broadcast) input batch for flat output batch `flat`. */
function broadcastIndex(flat: number, outBatch: number[], inBatch: number[]): number {
  let index = 0;
  let stride = 1;
  let rest = flat;
  for (let axis = outBatch.length - 1, inAxis = inBatch.length - 1; axis >= 0; axis--, inAxis--) {
    const coordinate = rest % outBatch[axis];
    rest = Math.floor(rest / outBatch[axis]);
    if (inAxis < 0) continue;
    if (inBatch[inAxis] !== 1) index += coordinate * stride;
    stride *= inBatch[inAxis];
  }
  return index;
}

/** Index array for one side, or null when that side has 1 batch or exactly the output's. */
function batchIndex(inBatch: number[], outBatch: number[], outSize: number): Int32Array | null {
  const size = tf.util.sizeFromShape(inBatch);
  if (size === 1) return null;
  const same = inBatch.length === outBatch.length && inBatch.every((d, i) => d === outBatch[i]);
  if (same) return null;
  const index = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) index[o] = broadcastIndex(o, outBatch, inBatch);
  return index;
}

export function planMatMul(kernelName: string, aShape: number[], bShape: number[], transposeA: boolean, transposeB: boolean): MatMulPlan {
  if (aShape.length < 2 || bShape.length < 2) {
    throw new Error(`${kernelName} (native): a and b need rank >= 2, got shapes [${aShape}] and [${bShape}]`);
  }
  const [ra, rb] = [aShape.length, bShape.length];
  const [m, kA] = transposeA ? [aShape[ra - 1], aShape[ra - 2]] : [aShape[ra - 2], aShape[ra - 1]];
  const [kB, n] = transposeB ? [bShape[rb - 1], bShape[rb - 2]] : [bShape[rb - 2], bShape[rb - 1]];
  if (kA !== kB) {
    throw new Error(
      `${kernelName} (native): inner dimensions differ: a [${aShape}] (transposeA=${transposeA}) gives ${kA}, ` +
        `b [${bShape}] (transposeB=${transposeB}) gives ${kB}`,
    );
  }
  const batchA = aShape.slice(0, -2);
  const batchB = bShape.slice(0, -2);
  const outBatch = tf.backend_util.assertAndGetBroadcastShape(batchA, batchB);
  const batch = tf.util.sizeFromShape(outBatch);
  return {
    m, k: kA, n, batch,
    outShape: [...outBatch, m, n],
    aIndex: batchIndex(batchA, outBatch, batch),
    bIndex: batchIndex(batchB, outBatch, batch),
  };
}
