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

/** An image as models take it: row-major HWC RGB, float values 0..255. */
export interface RgbPixels {
  data: Float32Array;
  height: number;
  width: number;
}

/** One image in the channels it came with, before any conversion. */
interface RawPixels {
  data: ArrayLike<number>;
  height: number;
  width: number;
  channels: number;
  /** Integer pixels (uint8 and the like) are always 0..255; float ones may be 0..1. */
  integer: boolean;
}

type Typed = Uint8Array | Uint8ClampedArray | Uint16Array | Int8Array | Int16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

function isTyped(v: unknown): v is Typed {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array);
}

const isNumbers = (v: unknown): v is ArrayLike<number> => isTyped(v) || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
const isIntegerArray = (v: ArrayLike<number>) => isTyped(v) && !(v instanceof Float32Array || v instanceof Float64Array);

/** A nested [h][w][c] (or [h][w], grey) array, flattened; a string says why it cannot be. */
function fromNested(nested: unknown[]): RawPixels | string {
  const h = nested.length;
  const row0 = nested[0];
  const w = Array.isArray(row0) ? row0.length : 0;
  if (!h || !w) return 'image is 0×0 (an empty nested array)';
  const grey = typeof (row0 as unknown[])[0] === 'number';
  const c = grey ? 1 : Array.isArray((row0 as unknown[])[0]) ? ((row0 as unknown[][])[0] as unknown[]).length : 0;
  const data = new Float64Array(h * w * c);
  let at = 0;
  for (const row of nested) {
    if (!Array.isArray(row) || row.length !== w) return `nested image rows must all have ${w} pixels`;
    for (const px of row) {
      if (grey) {
        if (typeof px !== 'number') return 'nested image pixels must all be numbers (grey) or all [channels] arrays';
        data[at++] = px;
      } else {
        if (!Array.isArray(px) || px.length !== c) return `nested image pixels must all have ${c} channels`;
        for (const v of px) data[at++] = typeof v === 'number' ? v : NaN;
      }
    }
  }
  return { data, height: h, width: w, channels: c, integer: false };
}

/** The image's pixels in the form it came in, or why none can be read. */
function rawPixels(image: unknown): RawPixels | string {
  if (image === undefined || image === null) return 'record has no image';
  if (image instanceof tf.Tensor) {
    if (image.rank !== 2 && image.rank !== 3) return `image tensor must be [height, width, channels] or [height, width], got shape [${image.shape.join(', ')}]`;
    const [height, width, channels = 1] = image.shape;
    return { data: image.dataSync() as ArrayLike<number>, height, width, channels, integer: image.dtype === 'int32' || image.dtype === 'bool' };
  }
  if (Array.isArray(image) && Array.isArray(image[0])) return fromNested(image);
  if (isTyped(image)) {
    // A bare flat array: a square RGB image.
    const side = Math.round(Math.sqrt(image.length / 3));
    if (side * side * 3 !== image.length) return `a flat pixel array must hold a square RGB image (length side·side·3), got length ${image.length}; give { data, shape: [h, w, c] }`;
    return { data: image, height: side, width: side, channels: 3, integer: isIntegerArray(image) };
  }
  if (typeof image !== 'object') return `image must be { data, shape: [h, w, c] }, { width, height, data }, a tensor or a nested array; got ${typeof image}`;
  const o = image as Record<string, unknown>;
  if (!isNumbers(o.data)) return 'image.data must be a typed array or an array of numbers';
  const data = o.data;
  let height: number;
  let width: number;
  let channels: number;
  if (o.shape !== undefined) {
    const shape = o.shape;
    if (!Array.isArray(shape) || (shape.length !== 2 && shape.length !== 3) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      return `image.shape must be [height, width, channels] (or [height, width]) of whole numbers, got ${JSON.stringify(shape)}`;
    }
    [height, width, channels = 1] = shape as number[];
  } else if (o.width !== undefined || o.height !== undefined) {
    if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || (o.width as number) < 0 || (o.height as number) < 0) {
      return `image.width and image.height must be whole numbers, got ${JSON.stringify(o.width)}×${JSON.stringify(o.height)}`;
    }
    [width, height] = [o.width as number, o.height as number];
    const area = width * height;
    channels = typeof o.channels === 'number' ? o.channels : area ? data.length / area : 0;
    if (area && !Number.isInteger(channels)) return `image data has ${data.length} values, not ${width}×${height} pixels times 1, 3 or 4 channels`;
  } else return 'image has data but neither shape [h, w, c] nor width and height';
  if (!height || !width) return `image is ${height}×${width}`;
  if (height * width * channels !== data.length) {
    return `image data has ${data.length} values, but ${height}×${width}×${channels} needs ${height * width * channels}`;
  }
  return { data, height, width, channels, integer: isIntegerArray(data) };
}

/** Channel counts a model can turn into RGB: grey, RGB, RGBA. */
const CHANNELS = [1, 3, 4];

/**
 * Why `image` cannot be turned into RGB pixels, or undefined when it can. The forms taken:
 * `{ data, shape: [h, w, c] }` (the IDX, mnist and image-folder readers), `{ width, height,
 * data, channels? }` (pngjs, jpeg-js, ImageData), a tf tensor [h, w, c] or [h, w], a nested
 * [h][w][c] or [h][w] array, or a flat typed array of a square RGB image. Channels 1 (grey),
 * 3 (RGB) or 4 (RGBA). Integer pixels (uint8, …) are 0..255; float pixels are 0..1 when none
 * exceeds 1 (the mnist package, simulated digits), else 0..255. Models declare this as their
 * `checkRecord`, so a bad image is reported with its id before a run folder exists.
 */
export function imageProblem(image: unknown): string | undefined {
  const raw = rawPixels(image);
  return typeof raw === 'string' ? raw : valueProblem(raw);
}

function valueProblem(raw: RawPixels): string | undefined {
  if (!CHANNELS.includes(raw.channels)) return `image has ${raw.channels} channels; give 1 (grey), 3 (RGB) or 4 (RGBA)`;
  const { data } = raw;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) return 'image has NaN or infinite pixel values';
    if (v < 0 || v > 255) return 'image has pixel values outside 0..255';
  }
  return undefined;
}

/** 1 when float pixels are already 0..1 (none above 1), else 255. */
function scaleTo255(raw: RawPixels): number {
  if (raw.integer) return 1;
  for (let i = 0; i < raw.data.length; i++) if (raw.data[i] > 1) return 1;
  return 255;
}

/**
 * Any accepted image form (see imageProblem) as RGB values 0..255: grey is repeated into
 * R, G and B, RGBA loses its alpha (PIL's convert("RGB"), what transformers' image
 * processors do for do_convert_rgb). Throws, prefixed with `where`, on an unusable image.
 */
export function toRgbPixels(image: unknown, where: string): RgbPixels {
  const raw = rawPixels(image);
  const problem = typeof raw === 'string' ? raw : valueProblem(raw);
  if (problem || typeof raw === 'string') throw new Error(`${where}: ${problem}`);
  const { height, width, channels, data } = raw;
  const scale = scaleTo255(raw);
  const n = height * width;
  const out = new Float32Array(n * 3);
  for (let p = 0; p < n; p++) {
    for (let k = 0; k < 3; k++) out[p * 3 + k] = data[p * channels + (channels === 1 ? 0 : k)] * scale;
  }
  return { data: out, height, width };
}
