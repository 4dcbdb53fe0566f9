import { toRgbPixels } from '@leantune/data';
import { tf } from '@leantune/tensor';

/**
 * What `record.image` may be: any form @leantune/data's `toRgbPixels` takes ({ data, shape:
 * [h, w, c] }, { width, height, data }, a tensor, a nested array, a flat typed array of a
 * square RGB image), grey (1 channel), RGB or RGBA; integer pixels 0..255, float pixels 0..1
 * or 0..255. Grey becomes RGB and alpha is dropped here, inside the model's preprocessing.
 */
export type ImageInput = unknown;

/** The image as a float32 tensor [h, w, 3] with values 0..255 (caller disposes). */
export function imageToTensor(image: ImageInput, where: string): tf.Tensor3D {
  const { data, height, width } = toRgbPixels(image, where);
  return tf.tensor3d(data, [height, width, 3], 'float32');
}

/**
 * nsfwjs's preprocessing (NSFWJS.infer): pixels / 255, then, when the image is not
 * size×size, tf.image.resizeBilinear with alignCorners = true. Returns [n, size, size, 3].
 */
export function preprocessImages(images: readonly unknown[], size: number, where: (i: number) => string): tf.Tensor4D {
  return tf.tidy(() => {
    const batch = images.map((image, i) => {
      const scaled = tf.div(imageToTensor(image, where(i)), 255) as tf.Tensor3D;
      const [h, w] = scaled.shape;
      return h === size && w === size ? scaled : tf.image.resizeBilinear(scaled, [size, size], true);
    });
    return tf.stack(batch) as tf.Tensor4D;
  });
}
