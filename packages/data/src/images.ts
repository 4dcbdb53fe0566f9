import { tf } from '@leantune/tensor';
import type { DataRecord } from '@leantune/core';
import { isImageArray } from './records';

/**
 * Stacks records' images into one float32 NHWC tensor. uint8 pixels are divided by 255 so
 * IDX-loaded and `mnist`-package digits (already 0..1) land on the same scale.
 */
export function imageBatch(records: readonly DataRecord[]): tf.Tensor4D {
  if (records.length === 0) throw new Error('imageBatch needs at least one record');
  const first = records[0].image;
  if (!isImageArray(first)) throw new Error(`Record ${records[0].id} has no image (expected { data, shape: [h, w, c] })`);
  const [h, w, c] = first.shape;
  const size = h * w * c;
  const out = new Float32Array(records.length * size);
  records.forEach((r, i) => {
    const img = r.image;
    if (!isImageArray(img)) throw new Error(`Record ${r.id} has no image (expected { data, shape: [h, w, c] })`);
    if (img.shape[0] !== h || img.shape[1] !== w || img.shape[2] !== c) {
      throw new Error(`Record ${r.id} has image shape [${img.shape.join(', ')}], but the batch is [${h}, ${w}, ${c}]; resize images first`);
    }
    const scale = img.data instanceof Uint8Array ? 1 / 255 : 1;
    for (let j = 0; j < size; j++) out[i * size + j] = img.data[j] * scale;
  });
  return tf.tensor4d(out, [records.length, h, w, c], 'float32');
}
