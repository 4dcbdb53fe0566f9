// Evidence for @leantune/plugin-data-simulate: MNIST with 20 real digits per class plus
// rendered synthetic digits at several ratios, a small MLP, accuracy on held-out real digits.
//   node tools/data-evidence/run.cjs tools/data-evidence/simulate.ts
import { shuffle } from '@leantune/data';
import { mixSynthetic } from '@leantune/plugin-data-simulate';
import { featuresHeadModel } from '@leantune/plugin-data-unsupervised';
import { accuracy, fastBackend, fmt, loadDataset, mean, perClass, sd, table, timed, trainModel } from './common';

const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const DRAWS = [1, 2, 3];
/** About 1,000 optimizer steps whatever the set size, so arms differ in data, not in training length. */
const STEPS = 600;
const BATCH = 32;

async function main(): Promise<void> {
  const backend = await fastBackend();
  const all = shuffle((await loadDataset('mnist')).records, 9);
  const test = all.slice(0, 2000);
  const pool = all.slice(2000);
  const rows = [];
  const arms: Array<[string, number, number]> = [
    ['real only (20/class)', 20, 0],
    ['real 20/class + synthetic ×1', 20, 1],
    ['real 20/class + synthetic ×5', 20, 5],
    ['real 20/class + synthetic ×20', 20, 20],
    ['synthetic only (400/class)', 0, 400],
    ['real only (100/class), for scale', 100, 0],
  ];
  for (const [name, realPerClass, ratio] of arms) {
    const accs: number[] = [];
    let size = 0;
    let seconds = 0;
    for (const draw of DRAWS) {
      const real = realPerClass > 0 ? perClass(pool, realPerClass, draw) : [];
      // Synthetic-only: "ratio" counts per class against one placeholder per label.
      const base = real.length ? real : LABELS.map((label) => ({ id: `p${label}`, label, meta: { source: 'placeholder', row: 0 } }));
      const mix = mixSynthetic(base, { kind: 'digits', ratio, seed: draw });
      const train = real.length ? mix.records : mix.records.slice(base.length);
      size = train.length;
      const model = featuresHeadModel(784, LABELS, { source: 'image', hidden: [128], seed: draw });
      const epochs = Math.max(1, Math.round((STEPS * BATCH) / train.length));
      const [, s] = await timed(() => trainModel(model, train, { epochs, batchSize: BATCH, lr: 1e-3, seed: draw }));
      seconds += s;
      accs.push(accuracy(model, test));
    }
    rows.push([name, size, `${fmt(mean(accs))} ± ${fmt(sd(accs))}`, fmt(seconds / DRAWS.length, 1)]);
  }
  console.log(`backend: ${backend}; MLP 784-128-10, AdamW 1e-3, ~${STEPS} steps of ${BATCH}; test: 2,000 held-out real MNIST digits; 3 draws (mean ± sd)\n`);
  console.log(table(['training data', 'records', 'accuracy on real test digits', 'train s'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
