import path from 'node:path';
import fs from 'node:fs';
import { readImageProcessing, type ImageProcessing } from './images';
import { HfTokenizer } from './tokenizer';

/** A value read on first use and kept; `peek` gives it only when already read or readable. */
export interface Lazy<T> {
  (): T;
  /** The file it reads exists (nothing is parsed). */
  available(): boolean;
}

function lazy<T>(file: string, read: () => T): Lazy<T> {
  let value: T | undefined;
  const get = (() => (value ??= read())) as Lazy<T>;
  get.available = () => value !== undefined || fs.existsSync(file);
  return get;
}

/**
 * tokenizer.json, read the first time text is given: a folder with only config.json and
 * the weights loads, and token ids (batch inputs input_ids, attention_mask) need no tokenizer.
 */
export function lazyTokenizer(dir: string, fallbackPadId: number | undefined, model: string): Lazy<HfTokenizer> {
  const file = path.join(dir, 'tokenizer.json');
  return lazy(file, () => {
    if (!fs.existsSync(file)) {
      throw new Error(
        `${file} is missing; ${model} needs tokenizer.json to read text. Download tokenizer.json from the model page on huggingface.co into this folder, ` +
          'or give token ids instead of text (batch inputs input_ids and attention_mask)',
      );
    }
    return HfTokenizer.load(dir, fallbackPadId);
  });
}

/** preprocessor_config.json, read the first time images are given (pixel_values need none). */
export function lazyImageProcessing(dir: string, model: string): Lazy<ImageProcessing> {
  const file = path.join(dir, 'preprocessor_config.json');
  return lazy(file, () => {
    if (!fs.existsSync(file)) {
      throw new Error(
        `${file} is missing; ${model} needs preprocessor_config.json to read images. Download preprocessor_config.json from the model page on huggingface.co into this folder, ` +
          'or give pixels instead of images (batch input pixel_values, NHWC, already resized and normalised)',
      );
    }
    return readImageProcessing(dir);
  });
}
