import { tf } from '@leantune/tensor';

type TypedPixels = Uint8Array | Uint8ClampedArray | Uint16Array | Int32Array | Float32Array | Float64Array;

/**
 * What `record.image` may be, always HWC with RGB values 0..255:
 * - a tf.Tensor3D [height, width, 3 (or 4: alpha is dropped, as tf.browser.fromPixels does)];
 * - a nested array [height][width][channels];
 * - `{ data, shape: [height, width, channels] }` with a flat typed or plain array;
 * - a flat typed array of a square image (side = √(length / 3)).
 */
export type ImageInput = tf.Tensor3D | number[][][] | TypedPixels | { data: TypedPixels | number[]; shape: [number, number, number] };

function isTyped(v: unknown): v is TypedPixels {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

function checkRange(values: ArrayLike<number>, where: string): void {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!(v >= 0 && v <= 255)) throw new Error(`${where}: pixel values must be numbers in 0..255 (RGB, not yet divided by 255), got ${v} at flat index ${i}`);
  }
}

function flatten(nested: unknown[], where: string): { data: Float32Array; shape: [number, number, number] } {
  const h = nested.length;
  const row0 = nested[0];
  const w = Array.isArray(row0) ? row0.length : 0;
  const px0 = Array.isArray(row0) ? row0[0] : undefined;
  const c = Array.isArray(px0) ? px0.length : 0;
  if (!h || !w || !c) throw new Error(`${where}: a nested image must be [height][width][channels] with every level non-empty`);
  const data = new Float32Array(h * w * c);
  let at = 0;
  for (let y = 0; y < h; y++) {
    const row = nested[y];
    if (!Array.isArray(row) || row.length !== w) throw new Error(`${where}: row ${y} must have ${w} pixels`);
    for (let x = 0; x < w; x++) {
      const px = row[x];
      if (!Array.isArray(px) || px.length !== c) throw new Error(`${where}: pixel [${y}][${x}] must have ${c} channels`);
      for (let k = 0; k < c; k++) data[at++] = px[k];
    }
  }
  return { data, shape: [h, w, c] };
}

/** The image as a float32 tensor [h, w, 3] with values 0..255 (caller disposes). */
export function imageToTensor(image: unknown, where: string): tf.Tensor3D {
  let pixels: tf.Tensor3D;
  if (image instanceof tf.Tensor) {
    if (image.rank !== 3) throw new Error(`${where}: an image tensor must be rank 3 [height, width, channels], got shape [${image.shape}]`);
    const t = tf.cast(image, 'float32') as tf.Tensor3D;
    const [min, max] = [tf.min(t), tf.max(t)];
    const [lo, hi] = [min.dataSync()[0], max.dataSync()[0]];
    min.dispose();
    max.dispose();
    if (!(lo >= 0 && hi <= 255)) {
      t.dispose();
      throw new Error(`${where}: pixel values must be in 0..255 (RGB, not yet divided by 255), got range [${lo}, ${hi}]`);
    }
    pixels = t;
  } else {
    let flat: { data: ArrayLike<number>; shape: [number, number, number] };
    if (Array.isArray(image)) flat = flatten(image, where);
    else if (isTyped(image)) {
      const side = Math.round(Math.sqrt(image.length / 3));
      if (side * side * 3 !== image.length) {
        throw new Error(`${where}: a flat pixel array must hold a square RGB image (length = side·side·3), got length ${image.length}; pass { data, shape: [h, w, c] } otherwise`);
      }
      flat = { data: image, shape: [side, side, 3] };
    } else if (image && typeof image === 'object' && 'data' in image && 'shape' in image) {
      const { data, shape } = image as { data: ArrayLike<number>; shape: number[] };
      if (!Array.isArray(shape) || shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1) || shape[0] * shape[1] * shape[2] !== data?.length) {
        throw new Error(`${where}: image.shape must be [height, width, channels] matching image.data's length ${data?.length}, got ${JSON.stringify(shape)}`);
      }
      flat = { data, shape: shape as [number, number, number] };
    } else {
      throw new Error(`${where}: record.image must be a tf.Tensor3D, a nested [h][w][c] array, a flat typed array or { data, shape }; got ${image === undefined ? 'nothing' : typeof image}`);
    }
    checkRange(flat.data, where);
    pixels = tf.tensor3d(Float32Array.from(flat.data), flat.shape, 'float32');
  }
  const channels = pixels.shape[2];
  if (channels === 3) return pixels;
  if (channels === 4) {
    const rgb = tf.slice(pixels, [0, 0, 0], [-1, -1, 3]) as tf.Tensor3D;
    pixels.dispose();
    return rgb;
  }
  pixels.dispose();
  throw new Error(`${where}: images must have 3 (RGB) or 4 (RGBA) channels, got ${channels}`);
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
