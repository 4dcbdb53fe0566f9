import { describeMethodContract, formatParameterCounts, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import bitfitPlugin from '../src';

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
// The figures PEFT's tests print: parameter counts, how far the loss fell, save/load and merge diffs.
afterAll(() => {
  for (const r of results) {
    const m = r.measured;
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
    if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
    if ((r.check === 'save-load' || r.check === 'merge') && !r.skipped) process.stdout.write(`${r.method}: ${r.check} max abs diff ${m.maxAbsDiff}\n`);
  }
});

const config = { biases: 'all' } as const;

// BitFit trains the tiny classifier's bias terms in place (encoder.dense.bias and
// classifier.bias: 18 values): base parameters that may train and move, while every other
// base parameter must stay frozen and unchanged.
describeMethodContract({
  plugin: bitfitPlugin,
  method: 'bitfit',
  config,
  trainer: createTrainDriver(),
  trainsBaseParameters: true,
  // It adds nothing, so the injected model is the base model.
  identityAtInit: true,
  mergeable: false,
  mergeSkipReason: 'BitFit\'s handle has no merge: it trains the base biases in place, so there is no separate delta to fold',
  // Two bias vectors around a frozen random encoder and head learn slowly: in 30 steps the
  // loss only wobbles (0.709 → 0.700 at lr 0.05; at lr 0.2 the "drop" is the recovery from the
  // first steps' overshoot). Over 150 steps it falls steadily, 0.709 → 0.676 per epoch mean.
  loss: { steps: 150, minRelativeDrop: 0.03 },
  // Save/load: the default, through the run's handle (handle.save, then the method's load onto
  // a bare base): the biases file alone restores the trained state onto a model BitFit never touched.
  invalidConfigs: [
    { config: { biases: 'some' }, message: /must be one of "all", "paper"/ },
    { config: { target_modules: 'dense', exclude_modules: 3 }, pointer: '/methods/bitfit/exclude_modules' },
  ],
  onResult: (r) => void results.push(r),
});
