import path from 'node:path';
import fs from 'node:fs';
import { readImageProcessing, type ImageProcessing } from './images';
import { HfTokenizer } from './tokenizer';

/** A value read on first use and kept. */
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

/** Reads `<dir>/<name>` with `read` on first use; absent, the error says who needs it for what, and what to give instead. */
function sideFile<T>(dir: string, name: string, need: string, instead: string, read: () => T): Lazy<T> {
  const file = path.join(dir, name);
  return lazy(file, () => {
    if (!fs.existsSync(file)) throw new Error(`${file} is missing; ${need}. Download ${name} from the model page on huggingface.co into this folder, or ${instead}`);
    return read();
  });
}

/**
 * tokenizer.json, read the first time text is given: a folder with only config.json and
 * the weights loads, and token ids (batch inputs input_ids, attention_mask) need no tokenizer.
 */
export function lazyTokenizer(dir: string, fallbackPadId: number | undefined, model: string): Lazy<HfTokenizer> {
  return sideFile(dir, 'tokenizer.json', `${model} needs tokenizer.json to read text`, 'give token ids instead of text (batch inputs input_ids and attention_mask)', () => HfTokenizer.load(dir, fallbackPadId));
}

/** preprocessor_config.json, read the first time images are given (pixel_values need none). */
export function lazyImageProcessing(dir: string, model: string): Lazy<ImageProcessing> {
  return sideFile(dir, 'preprocessor_config.json', `${model} needs preprocessor_config.json to read images`, 'give pixels instead of images (batch input pixel_values, NHWC, already resized and normalised)', () => readImageProcessing(dir));
}
