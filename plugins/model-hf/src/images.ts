import { toRgbPixels } from '@leantune/data';
import { tf } from '@leantune/tensor';
import { readJsonFile, type HfConfig } from './config';

/**
 * An image as records carry it: any form @leantune/data's `toRgbPixels` takes — `{ width,
 * height, data, channels? }` (pngjs, jpeg-js), `{ data, shape: [h, w, c] }` (the IDX, mnist
 * and image-folder readers), an HWC tensor, a nested array — grey, RGB or RGBA; integer
 * pixels 0–255, float pixels 0–1 or 0–255.
 */
export type HfImage = unknown;

/** The fields of preprocessor_config.json (ViTImageProcessor / CLIPImageProcessor) used here. */
export interface ImageProcessing {
  /** Resize to exactly height × width, or (shortestEdge) the shorter side to this length. */
  resize?: { height: number; width: number } | { shortestEdge: number };
  crop?: { height: number; width: number };
  rescale: number | undefined;
  mean: number[] | undefined;
  std: number[] | undefined;
}

function sizeField(raw: unknown, key: string, file: string): { height: number; width: number } | { shortestEdge: number } {
  if (typeof raw === 'number') return { height: raw, width: raw };
  const o = (raw ?? {}) as Record<string, unknown>;
  if (typeof o.height === 'number' && typeof o.width === 'number') return { height: o.height, width: o.width };
  if (typeof o.shortest_edge === 'number') return { shortestEdge: o.shortest_edge };
  throw new Error(`${file}: "${key}" must be a number, {"height", "width"} or {"shortest_edge"}, got ${JSON.stringify(raw)}`);
}

function channelList(raw: HfConfig, key: string, file: string): number[] | undefined {
  const v = raw[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new Error(`${file}: "${key}" must be a list of numbers, got ${JSON.stringify(v)}`);
  return v as number[];
}

export function readImageProcessing(dir: string): ImageProcessing {
  const raw = readJsonFile(dir, 'preprocessor_config.json', 'download preprocessor_config.json from the model page on huggingface.co into this folder');
  const file = `${dir}/preprocessor_config.json`;
  const crop = raw.do_center_crop === true ? sizeField(raw.crop_size, 'crop_size', file) : undefined;
  if (crop && 'shortestEdge' in crop) throw new Error(`${file}: "crop_size" must give height and width`);
  return {
    resize: raw.do_resize === false ? undefined : sizeField(raw.size, 'size', file),
    crop,
    rescale: raw.do_rescale === false ? undefined : typeof raw.rescale_factor === 'number' ? raw.rescale_factor : 1 / 255,
    mean: raw.do_normalize === false ? undefined : channelList(raw, 'image_mean', file),
    std: raw.do_normalize === false ? undefined : channelList(raw, 'image_std', file),
  };
}

/**
 * The image as RGB 0–255: grey is repeated into R, G and B and RGBA loses its alpha, as
 * transformers' convert_to_rgb (PIL's convert("RGB")) does. CLIP's processor does it by
 * default (do_convert_rgb); ViT's patch embedding takes 3 channels too, so both models
 * convert whatever do_convert_rgb says (the alternative is an error at the first batch).
 */
function toRgbTensor(image: HfImage, where: string): tf.Tensor3D {
  const { data, height, width } = toRgbPixels(image, where);
  return tf.tensor3d(data, [height, width, 3], 'float32');
}

/**
 * NHWC pixel_values for a batch. Resizing is bilinear without antialias (tfjs), so it is
 * close to, not bit-identical with, PIL's; images already at the model size are untouched.
 */
export function preprocessImages(images: readonly HfImage[], proc: ImageProcessing, where: (i: number) => string): tf.Tensor4D {
  return tf.tidy(() => {
    const rows = images.map((img, i) => {
      let x = toRgbTensor(img, where(i));
      const [h, w] = x.shape;
      if (proc.resize) {
        const target: [number, number] =
          'shortestEdge' in proc.resize
            ? h <= w
              ? [proc.resize.shortestEdge, Math.round((w * proc.resize.shortestEdge) / h)]
              : [Math.round((h * proc.resize.shortestEdge) / w), proc.resize.shortestEdge]
            : [proc.resize.height, proc.resize.width];
        if (target[0] !== h || target[1] !== w) x = tf.image.resizeBilinear(x, target, false, true);
      }
      if (proc.crop) {
        const [ch, cw] = [proc.crop.height, proc.crop.width];
        const top = Math.floor((x.shape[0] - ch) / 2);
        const left = Math.floor((x.shape[1] - cw) / 2);
        if (top < 0 || left < 0) throw new Error(`${where(i)}: image [${x.shape}] is smaller than crop_size ${ch}×${cw}`);
        x = tf.slice(x, [top, left, 0], [ch, cw, 3]);
      }
      if (proc.rescale !== undefined) x = tf.mul(x, proc.rescale);
      if (proc.mean && proc.std) x = tf.div(tf.sub(x, proc.mean), proc.std);
      return x;
    });
    const shapes = new Set(rows.map((r) => r.shape.join('x')));
    if (shapes.size > 1) throw new Error(`Images preprocess to different sizes (${[...shapes].join(', ')}); set "size" in preprocessor_config.json`);
    return tf.stack(rows) as tf.Tensor4D;
  });
}
