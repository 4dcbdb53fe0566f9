import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { describeMethodContract, formatParameterCounts, quietLog, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import vptPlugin from '../src';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { tinyImages } = require('./fixtures/tiny-images.js');

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
afterAll(() => {
  for (const r of results) {
    const m = r.measured;
    if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
    if (r.check === 'loss') process.stdout.write(`${r.method}: loss ${Number(m.first3).toFixed(3)} → ${Number(m.last3).toFixed(3)}\n`);
    if (r.check === 'save-load' && !r.skipped) process.stdout.write(`${r.method}: save-load max abs diff ${m.maxAbsDiff} (${m.saveLoad})\n`);
  }
});

// A Hub-layout tiny ViT (2 layers, hidden 8, 8×8 images in 4 patches, 3 classes), written
// once; every session loads it fresh. Only the prompts train (the head stays frozen).
const checkpoints: Record<string, string> = {};
function model(arch: 'vit' | 'clip') {
  return () => {
    if (!checkpoints[arch]) {
      checkpoints[arch] = mkdtempSync(join(tmpdir(), `lt-vpt-contract-${arch}-`));
      writeTinyHfCheckpoint(arch, checkpoints[arch], { layers: 2, seed: 61 });
    }
    return loadHfCheckpoint(checkpoints[arch], { log: quietLog, labels: arch === 'clip' ? ['cat', 'dog', 'bird'] : undefined });
  };
}
const records = tinyImages(64);
const data = { train: records.slice(0, 48), validation: records.slice(48) };
const common = {
  plugin: vptPlugin,
  method: 'vpt',
  data,
  trainer: createTrainDriver(),
  // Prompts change every output: there is no identity setting (zero prompts still take attention).
  mergeable: false,
  mergeSkipReason: 'prompt tokens join every input; there is no weight to fold them into (merge refuses with notMergeable)',
  onResult: (r: CheckResult) => void results.push(r),
};

describeMethodContract({
  ...common,
  label: 'shallow, ViT',
  model: model('vit'),
  config: { num_prompts: 4 },
  invalidConfigs: [
    { config: { mode: 'middle' }, message: /must be one of "shallow", "deep"/ },
    { config: { num_prompts: 0 }, message: /must be >= 1/ },
    { config: { dropout: 1 }, message: /must be < 1/ },
    { config: { modules_to_save: ['classifier'] }, message: /must be null/ },
  ],
});

describeMethodContract({ ...common, label: 'deep, ViT', model: model('vit'), config: { num_prompts: 4, mode: 'deep', dropout: 0.1 } });

// CLIP's logits carry exp(logit_scale) = 1/0.07 and the tiny towers are random: prompts alone
// (the only thing trained) move the loss less there; measured 2.802 → 2.707 (3.4%) at lr 0.2
// and no better at 0.5, so this run asks for a 2% drop.
describeMethodContract({
  ...common,
  label: 'deep, CLIP vision tower',
  model: model('clip'),
  config: { num_prompts: 4, mode: 'deep' },
  train: { learningRate: 0.2 },
  loss: { minRelativeDrop: 0.02 },
});
