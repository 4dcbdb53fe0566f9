// Evidence for @leantune/plugin-data-incremental: class-incremental MNIST (digits 0-4, then
// 5-9) with a 784-128-10 MLP; forgetting with and without rehearsal, EWC and a LoRA adapter.
//   node tools/data-evidence/run.cjs tools/data-evidence/incremental.ts
import type { DataRecord, LoadedModel } from '@leantune/core';
import { shuffle } from '@leantune/data';
import { computeFisher, disposeEwc, rebindEwc, ReservoirBuffer, trainIncrement, type IncrementOptions } from '@leantune/plugin-data-incremental';
import { featuresHeadModel } from '@leantune/plugin-data-unsupervised';
import { tf } from '@leantune/tensor';
import { accuracy, fastBackend, fmt, loadDataset, table, timed, trainModel } from './common';

const LABELS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'];
const TRAIN = { epochs: 3, batchSize: 64, lr: 1e-3, seed: 1 };
const isOld = (r: DataRecord) => Number(r.label) <= 4;

async function main(): Promise<void> {
  const backend = await fastBackend();
  const all = shuffle((await loadDataset('mnist')).records, 5);
  const test = all.slice(0, 2000);
  const pool = all.slice(2000);
  const [trainA, trainB] = [pool.filter(isOld), pool.filter((r) => !isOld(r))];
  const [valA, valB] = [test.filter(isOld), test.filter((r) => !isOld(r))];
  const fresh = () => featuresHeadModel(784, LABELS, { source: 'image', hidden: [128], seed: 3 });

  // Task A once; every arm starts from a copy of these weights.
  const base = fresh();
  const [, taskASeconds] = await timed(() => trainModel(base, trainA, TRAIN));
  const snapshot = new Map([...base.module.stateDict()].map(([k, v]) => [k, tf.clone(v)]));
  const fromA = (): LoadedModel => {
    const m = fresh();
    m.module.loadStateDict(snapshot, { strict: true });
    return m;
  };
  const buffer = new ReservoirBuffer(500, 1).addAll(trainA).items();
  const [fisher, fisherSeconds] = await timed(() => computeFisher(base, trainA, { samples: 300, seed: 1 }));

  const rows: Array<Array<string | number>> = [];
  const arm = async (name: string, options: Omit<IncrementOptions, 'model' | 'newTrain' | 'train' | 'oldValidation' | 'newValidation'>, lr = TRAIN.lr) => {
    const model = fromA();
    const ewc = options.ewc && { ...options.ewc, state: rebindEwc(options.ewc.state, model.module) }; // the Fisher was computed on `base`
    const r = await trainIncrement({ model, newTrain: trainB, oldValidation: valA, newValidation: valB, train: { ...TRAIN, lr }, ...options, ewc });
    rows.push([name, fmt(r.oldAccuracyBefore!), fmt(r.oldAccuracyAfter!), fmt(r.forgetting!), fmt(r.newAccuracy!, 4), fmt(accuracy(model, test), 4), r.trainRecords, r.trainableParameters, fmt(r.seconds, 1)]);
    return { model, lora: r.lora };
  };

  const scratch = fresh();
  const [, scratchSeconds] = await timed(() => trainModel(scratch, [...trainA, ...trainB], TRAIN));
  rows.push(['retrain from scratch on A+B (reference)', '-', fmt(accuracy(scratch, valA)), '-', fmt(accuracy(scratch, valB), 4), fmt(accuracy(scratch, test), 4), trainA.length + trainB.length, scratch.module.countParameters().trainable, fmt(scratchSeconds, 1)]);
  await arm('fine-tune on B', {});
  await arm('rehearsal 20% (buffer 500)', { rehearsal: { buffer, ratio: 0.2 } });
  await arm('rehearsal 40% (buffer 500)', { rehearsal: { buffer, ratio: 0.4 } });
  for (const lambda of [1e2, 1e3, 1e4]) await arm(`EWC λ=${lambda.toExponential(0)}`, { ewc: { state: fisher, lambda } });
  await arm('rehearsal 20% + EWC λ=1e+3', { rehearsal: { buffer, ratio: 0.2 }, ewc: { state: fisher, lambda: 1e3 } });
  // LoRA trains far fewer weights, so it gets a larger step (5e-3), as is usual for adapters.
  const lora = { name: 'digits5to9', config: { r: 16, lora_alpha: 32, target_modules: 'all-linear', rank_pattern: { '2': 8 } } }; // the 10-wide head takes r = 8
  await arm('LoRA adapter r=16 (head r=8), lr 5e-3 (base frozen)', { adapter: lora }, 5e-3);
  const { model: adapted, lora: handle } = await arm('LoRA adapter r=16 (head r=8), lr 5e-3 + rehearsal 20%', { adapter: lora, rehearsal: { buffer, ratio: 0.2 } }, 5e-3);
  // The base weights were frozen: switching the adapter off gives task A's model back exactly.
  handle!.withAdaptersDisabled(() => rows.push(['  the same model with the adapter switched off', '-', fmt(accuracy(adapted, valA)), '-', fmt(accuracy(adapted, valB), 4), fmt(accuracy(adapted, test), 4), '-', '-', '-']));
  disposeEwc(fisher);

  console.log(`backend: ${backend}; MNIST (mnist package) shuffled, 8,000 train (A = digits 0-4: ${trainA.length}, B = 5-9: ${trainB.length}), 2,000 test (old ${valA.length} / new ${valB.length});`);
  console.log(`MLP 784-128-10 (ReLU), AdamW lr 1e-3, 3 epochs, batch 64; task A took ${fmt(taskASeconds, 1)} s, Fisher on 300 samples ${fmt(fisherSeconds, 1)} s\n`);
  console.log(table(['increment B (digits 5-9)', 'old acc before', 'old acc after', 'forgetting', 'new acc', 'all 10 digits', 'train records', 'trainable params', 's'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
