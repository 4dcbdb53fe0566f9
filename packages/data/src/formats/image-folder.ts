import { promises as fs } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { makeRecord, type ImageArray } from '../records';
import { skipRow, type ReadItem } from '../read';
import { npyToImage, parseNpy } from './npy';

/** Turns a file's bytes into pixels; plug in e.g. pngjs or jpeg-js for those formats. */
export type ImageDecoder = (bytes: Uint8Array, path: string) => ImageArray;

export interface ImageFolderOptions {
  /** Extra decoders by lower-case extension ('.png'); .npy is built in. */
  decoders?: Record<string, ImageDecoder>;
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
      let image: ImageArray;
      try {
        image = decode(await fs.readFile(join(root, rel)), rel);
      } catch (err) {
        yield skipRow(source, at, 'corrupt-image', `${rel}: ${(err as Error).message}`);
        continue;
      }
      yield { record: makeRecord({ id: `${source}/${rel}`, image, label }, { source, row: at, file: rel }) };
    }
  }
}
