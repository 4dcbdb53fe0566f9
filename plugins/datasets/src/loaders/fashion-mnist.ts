import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset, DatasetLoader, DatasetSpec, RunContext } from '@leantune/core';
import { collect, readIdx, toDataset } from '@leantune/data';
import { PLUGIN_NAME, enumOption, intOption, limitPerClass, resolveDataPath, runSeed, withConfigDir, type LoaderDeps } from '../common';
import { MissingDatasetPackageError } from '../packages';

/** Where Debian's dataset-fashion-mnist package installs the four IDX files. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_APT = 'apt-get install dataset-fashion-mnist';

/** Label value → name, from the Fashion-MNIST README. */
export const FASHION_LABELS = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'] as const;

const FILES = {
  train: ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte'],
  test: ['t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'],
} as const;

/** The gzip file as Debian ships it, or an uncompressed copy with the original name. */
function findFile(dir: string, base: string): string | undefined {
  return [`${base}.gz`, base].map((f) => join(dir, f)).find((p) => existsSync(p));
}

/**
 * Fashion-MNIST (Zalando): 28×28 uint8 clothing images in 10 classes, labels by name.
 * Options: `subset` 'train' (60,000, default) or 'test' (10,000); `dir` (default the
 * Debian location); `limit` per class.
 */
export function fashionMnistLoader(deps: LoaderDeps): DatasetLoader {
  return {
    name: 'fashion-mnist',
    description: `Fashion-MNIST from Debian's dataset-fashion-mnist (${FASHION_MNIST_DIR}): 60,000 + 10,000 images 28×28, 10 classes`,
    datasets: ['fashion-mnist'],
    test: (spec) => spec.name === 'fashion-mnist',
    async load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset> {
      const subset = enumOption(spec, 'subset', ['train', 'test'] as const, 'train');
      const limit = intOption(spec, 'limit');
      const dir = spec.dir === undefined ? FASHION_MNIST_DIR : resolveDataPath(spec.dir, spec, withConfigDir(deps, ctx), 'dir');
      const [images, labels] = FILES[subset].map((base) => findFile(dir, base));
      if (!images || !labels) {
        const missing = FILES[subset].filter((base) => !findFile(dir, base)).map((b) => `${b}.gz`);
        throw new MissingDatasetPackageError(
          spec.name,
          `the Debian package dataset-fashion-mnist (missing in ${dir}: ${missing.join(', ')})`,
          `${FASHION_MNIST_APT}, or set "dir" to a folder holding the Fashion-MNIST IDX files`,
        );
      }
      const collected = await collect(readIdx(images, labels, { labelNames: FASHION_LABELS }));
      const limited = limitPerClass(collected.records, limit, runSeed(spec, ctx));
      return toDataset(
        'fashion-mnist',
        { records: limited.kept, skipped: [...collected.skipped, ...limited.skipped], rows: collected.rows },
        { plugin: PLUGIN_NAME, labels: [...FASHION_LABELS], details: { subset, dir, pixelRange: [0, 255] } },
      );
    },
  };
}
