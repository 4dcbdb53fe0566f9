// Evidence for @leantune/plugin-data-unsupervised: MNIST accuracy of a linear head on PCA-k
// and autoencoder-k features (fitted on 8,000 unlabelled images) vs raw pixels, with few labels.
//   node tools/data-evidence/run.cjs tools/data-evidence/unsupervised.ts
import type { DataRecord } from '@leantune/core';
import { shuffle } from '@leantune/data';
import { fitExtractor, featuresHeadModel, recordsToMatrix, withFeatures, type ExtractorSpec } from '@leantune/plugin-data-unsupervised';
import { accuracy, fastBackend, fmt, loadDataset, mean, perClass, sd, table, timed, trainModel } from './common';

const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const DRAWS = [1, 2, 3];

async function headAccuracy(pool: DataRecord[], test: DataRecord[], perLabel: number, dim: number, source: 'image' | 'features'): Promise<number[]> {
  const out: number[] = [];
  for (const draw of DRAWS) {
    const labelled = perClass(pool, perLabel, draw);
    const model = featuresHeadModel(dim, LABELS, { source, seed: draw });
    await trainModel(model, labelled, { epochs: 100, batchSize: 50, lr: 0.01, seed: draw });
    out.push(accuracy(model, test));
  }
  return out;
}

async function main(): Promise<void> {
  const backend = await fastBackend();
  const all = shuffle((await loadDataset('mnist')).records, 11);
  const test = all.slice(0, 2000);
  const pool = all.slice(2000); // 8,000 images: unlabelled for PCA/AE, and the source of the few labels
  const arms: Array<[string, number, ExtractorSpec | undefined]> = [
    ['raw pixels', 784, undefined],
    ['PCA-16', 16, { method: 'pca', seed: 1 }],
    ['PCA-50', 50, { method: 'pca', seed: 1 }],
    ['AE-16', 16, { method: 'autoencoder', hidden: 256, epochs: 10, batchSize: 64, lr: 1e-3, seed: 1 }],
    ['AE-50', 50, { method: 'autoencoder', hidden: 256, epochs: 10, batchSize: 64, lr: 1e-3, seed: 1 }],
    ['PCA-50, standardised', 50, { method: 'pca', seed: 1, standardize: true }],
    ['AE-50, standardised', 50, { method: 'autoencoder', hidden: 256, epochs: 10, batchSize: 64, lr: 1e-3, seed: 1, standardize: true }],
  ];
  const rows = [];
  for (const [name, k, spec] of arms) {
    let poolF = pool;
    let testF = test;
    let fitS = 0;
    let note = '-';
    if (spec) {
      const [extractor, s] = await timed(() => fitExtractor(recordsToMatrix(pool, 'image'), k, spec));
      fitS = s;
      note = extractor.kind === 'pca' ? `explained variance ${fmt(Array.from(extractor.model.explainedVarianceRatio).reduce((a, b) => a + b, 0))}` : `reconstruction MSE ${fmt(extractor.history.at(-1)!, 4)}`;
      const mapped = withFeatures([...pool, ...test], extractor, 'image');
      poolF = pool.map((r) => mapped.get(r)!);
      testF = test.map((r) => mapped.get(r)!);
    }
    const cells: string[] = [];
    for (const perLabel of [10, 50]) {
      const accs = await headAccuracy(poolF, testF, perLabel, k, spec ? 'features' : 'image');
      cells.push(`${fmt(mean(accs))} ± ${fmt(sd(accs))}`);
    }
    rows.push([name, k, ...cells, fmt(fitS, 1), note]);
  }
  console.log(`backend: ${backend}; test: 2,000 held-out MNIST digits; extractors fitted on 8,000 unlabelled images; linear softmax head, 3 label draws (mean ± sd)\n`);
  console.log(table(['features', 'width', 'accuracy, 10 labels/class', 'accuracy, 50 labels/class', 'fit s', 'extractor'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
