import { describeMethodContract, formatParameterCounts } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
// The third-party package exactly as a user installs it: plain CommonJS, no build step.
import shiftPlugin from '@acme/leantune-plugin-shift';

beforeAll(() => tf.setBackend('cpu'));

// A method written outside this repository joins the same contract as ours: one call.
describeMethodContract({
  plugin: shiftPlugin,
  pluginOptions: { trace: false },
  method: 'shift',
  config: { target_modules: ['dense'] },
  trainer: createTrainDriver(),
  identityAtInit: true,
  // shift has no merge(); declaring it skips that check visibly instead of passing it silently.
  mergeable: false,
  // One bias before a frozen tanh and a frozen random head learns little: at lr 0.05 the loss
  // goes 0.704 → 0.697 in 30 steps. A larger step and a lower bar still prove it learns.
  train: { learningRate: 0.2 },
  loss: { minRelativeDrop: 0.03 },
  invalidConfigs: [
    { config: { target_modules: [] }, message: /must NOT have fewer than 1 items/ },
    { config: { target_modules: 'dense' }, message: /must be array/ },
  ],
  // PEFT's print_trainable_parameters line: "shift: trainable params: 16 || all params: 1,346 || trainable%: 1.1887".
  onResult: (r) => {
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
  },
});
