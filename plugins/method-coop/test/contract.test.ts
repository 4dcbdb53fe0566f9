import { describeMethodContract, formatParameterCounts, quietLog, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import coopPlugin from '../src';
// The labelled 8×8 images of VPT's tests (class = brightest channel: cat, dog, bird).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tinyImages, tinyClipModel } = require('../../method-vpt/test/fixtures/tiny-images.js');

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
afterAll(() => {
  for (const r of results) {
    const m = r.measured;
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
    if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
    if ((r.check === 'save-load' || r.check === 'identity') && !r.skipped) process.stdout.write(`${r.method}: ${r.check} max abs diff ${m.maxAbsDiff}\n`);
  }
});

// A Hub-layout tiny CLIP (2 layers per tower, 16 text positions) with the class names as
// labels: its loss and predict are zero-shot over "a photo of a {}." until CoOp sets a context.
const model = tinyClipModel('coop-contract', quietLog);
const records = tinyImages(64);
const common = {
  plugin: coopPlugin,
  method: 'coop',
  model,
  data: { train: records.slice(0, 48), validation: records.slice(48) },
  trainer: createTrainDriver(),
  mergeable: false,
  mergeSkipReason: 'a learned context joins every class prompt; there is no weight to fold it into (merge refuses with notMergeable)',
  onResult: (r: CheckResult) => void results.push(r),
};

// Initialised from the model's own template words: the injected model is the zero-shot one exactly.
describeMethodContract({
  ...common,
  label: 'ctx_init "a photo of a"',
  config: { ctx_init: 'a photo of a' },
  identityAtInit: true,
  invalidConfigs: [
    { config: { n_ctx: 0 }, message: /must be >= 1/ },
    { config: { class_token_position: 'start' }, message: /must be one of "end", "middle", "front"/ },
    { config: { csc: 'yes' }, message: /must be boolean/ },
    { config: { ctx_init: '' }, message: /must NOT have fewer than 1 characters|must match/ },
  ],
});

describeMethodContract({ ...common, label: 'class-specific, random init, name in the middle', config: { n_ctx: 4, csc: true, class_token_position: 'middle' } });
