import { describeMethodContract, formatParameterCounts, standaloneFiles, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import ia3Plugin, { Ia3Model, loadIa3, saveIa3 } from '../src';

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

// IA3 rescales the output of the tiny classifier's encoder.dense by a learned vector (16
// values), saved and loaded as PEFT IA3 files into a bare base model, as
// `PeftModel.from_pretrained` would.
describeMethodContract({
  plugin: ia3Plugin,
  method: 'ia3',
  config: { target_modules: ['dense'] },
  trainer: createTrainDriver(),
  // init_ia3_weights (default true): the vectors start at one.
  identityAtInit: true,
  // A rescaling folds exactly into the wrapped Linear's weight and bias.
  mergeable: true,
  saveLoad: standaloneFiles(Ia3Model, saveIa3, loadIa3),
  invalidConfigs: [
    { config: { init_ia3_weights: 'ones' }, message: /must be boolean/ },
    { config: { modules_to_save: ['classifier'] }, message: /must be null/ },
    // An empty list means the architecture's default targets, as null does; an empty name is an error.
    { config: { target_modules: [''] }, pointer: '/methods/ia3/target_modules/0', message: /must NOT have fewer than 1 characters/ },
    { config: { fan_in_fan_out: 1 }, message: /must be boolean/ },
  ],
  onResult: (r) => void results.push(r),
});
