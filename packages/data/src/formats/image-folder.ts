import { promises as fs } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { makeRecord, type ImageArray } from '../records';
import { skipRow, type ReadItem } from '../read';
import { DEFAULT_MAX_RECORD_BYTES } from './fields';
import { imageHeaderSize } from './image-header';
import { npyToImage, parseNpy, readNpyFile } from './npy';
import { fileSizeWithin } from './open';

/** Turns a file's bytes into pixels; plug in e.g. pngjs or jpeg-js for those formats. */
export type ImageDecoder = (bytes: Uint8Array, path: string) => ImageArray;

export interface ImageFolderOptions {
  /** Extra decoders by lower-case extension ('.png'); .npy is built in. */
  decoders?: Record<string, ImageDecoder>;
  /**
   * Largest image file read, in bytes (stat before reading): a larger one stops the read with
   * an error naming it. Default DEFAULT_MAX_RECORD_BYTES (16 MiB); the data section's
   * `maxRecordBytes` sets it.
   */
  maxRecordBytes?: number;
  /**
   * Most pixels (width × height) a PNG or JPEG header may declare: more stops the read before
   * the decoder runs (a decoder allocates what the header says). Default DEFAULT_MAX_IMAGE_PIXELS
   * (40 million); the data section's `maxImagePixels` sets it.
   */
  maxImagePixels?: number;
}

/** The pixel cap when none is set: a 40-megapixel photo, 160 MB as RGBA bytes. */
export const DEFAULT_MAX_IMAGE_PIXELS = 40_000_000;

/** The error for an image declaring more than `max` pixels, naming the file, its size and the option; undefined when within. */
function overPixelCap(rel: string, what: string, width: number, height: number, max: number): Error | undefined {
  if (width * height > max) {
    return new Error(`Image ${rel} declares ${width}×${height} = ${width * height} pixels in its ${what}, over the cap of ${max}; if the images really are this large, raise "maxImagePixels" in the config's data section`);
  }
}

/** Formats we recognise but cannot decode without a dependency, and which one to add. */
const NEEDS_DECODER: Record<string, string> = { '.png': 'pngjs', '.jpg': 'jpeg-js', '.jpeg': 'jpeg-js' };

const byName = (a: string, b: string) => a.localeCompare(b, 'en', { numeric: true });

/**
 * Reads `root/<class>/<file>` as labelled images, classes and files in sorted order.
 * Undecodable files are counted skips: 'needs-decoder' (PNG/JPEG with no decoder given),
 * 'unsupported-format', 'corrupt-image'. Hidden files are ignored. Rows count files
 * across all classes, 0-based; `meta.file` is the path under root.
 */
export async function* readImageFolder(root: string, options: ImageFolderOptions = {}): AsyncGenerator<ReadItem> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch {
    throw new Error(`Image folder not found: ${root} (expected one sub-folder per class; relative paths resolve from the config's folder)`);
  }
  const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort(byName);
  if (classes.length === 0) throw new Error(`Image folder ${root} has no class sub-folders (layout: ${root}/<class>/<image files>)`);
  const decoders: Record<string, ImageDecoder> = { '.npy': (bytes, path) => npyToImage(parseNpy(bytes, path), path), ...options.decoders };
  const maxBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const maxPixels = options.maxImagePixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  const source = basename(root);
  let row = 0;
  for (const label of classes) {
    const files = (await fs.readdir(join(root, label), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort(byName);
    for (const file of files) {
      const rel = `${label}/${file}`;
      const ext = extname(file).toLowerCase();
      const decode = decoders[ext];
      const at = row++;
      if (!decode) {
        const dep = NEEDS_DECODER[ext];
        yield dep
          ? skipRow(source, at, 'needs-decoder', `${rel}: no ${ext} decoder installed; add the "${dep}" package and pass it in options.decoders`)
          : skipRow(source, at, 'unsupported-format', `${rel}: unknown image format "${ext || '(none)'}"`);
        continue;
      }
      const path = join(root, rel);
      // Caps stop the read (a config can raise them); a file that is corrupt is a counted skip.
      await fileSizeWithin(path, 'Image', maxBytes, 'maxRecordBytes');
      let image: ImageArray | undefined;
      let overCap: Error | undefined;
      try {
        if (ext === '.npy' && !options.decoders?.['.npy']) {
          // Its header is checked against the file's size before the body is read; the pixels
          // are the body, so the byte cap bounds them.
          image = npyToImage(await readNpyFile(path, maxBytes), rel);
        } else {
          const bytes = await fs.readFile(path);
          const size = imageHeaderSize(bytes);
          overCap = size && overPixelCap(rel, `${size.format} header`, size.width, size.height, maxPixels);
          if (!overCap) image = decode(bytes, rel);
        }
      } catch (err) {
        yield skipRow(source, at, 'corrupt-image', `${rel}: ${(err as Error).message}`);
        continue;
      }
      if (overCap) throw overCap;
      yield { record: makeRecord({ id: `${source}/${rel}`, image: image!, label }, { source, row: at, file: rel }) };
    }
  }
}
