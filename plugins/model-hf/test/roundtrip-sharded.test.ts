/**
 * Issue 14's "done means" for sharded checkpoints, through the CLI: a sharded Hub folder
 * trains a LoRA, generates (GPT-2), merges to a Hub folder, and the merged folder loads
 * again with the trained model's outputs.
 */
import fs from 'node:fs';
import path from 'node:path';
import { main } from '@leantune/cli';
import { loadTrainedModel } from '@leantune/runner';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { record, recordingLogger, tempDir } from './helpers';

const TINY_DATA = path.resolve(__dirname, '../../../packages/cli/test/fixtures/tiny-data.js');

async function cli(cwd: string, args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), cwd, readStdin: async () => new Uint8Array() });
  return { code, out, err };
}

function trainConfig(cwd: string, model: string, extra: Record<string, unknown>): string {
  const file = path.join(cwd, 'config.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      name: 'sharded',
      plugins: ['hf', { name: TINY_DATA, allowOutside: true }, 'lora'],
      model: { name: 'hf', path: model },
      methods: { lora: { r: 2, lora_alpha: 4 } },
      data: { name: 'tiny-sentiment', count: 16 },
      train: { epochs: 1, batchSize: 8, learningRate: 0.05 },
      runtime: { backend: 'cpu', seed: 3 },
      output: { dir: 'runs' },
      ...extra,
    }),
  );
  return file;
}

const onlyRun = (cwd: string) => path.join(cwd, 'runs', fs.readdirSync(path.join(cwd, 'runs'))[0]);

test('sharded GPT-2: LoRA trains, generates, merges to a folder that loads with the same logits and text', async () => {
  const cwd = tempDir('rt-gpt2');
  const ckpt = path.join(cwd, 'gpt2');
  writeTinyHfCheckpoint('gpt2', ckpt, { layers: 2, maxShardBytes: 1500 });
  expect(fs.existsSync(path.join(ckpt, 'model.safetensors'))).toBe(false);
  const t = await cli(cwd, ['train', '-c', trainConfig(cwd, ckpt, {}), '--quiet']);
  expect(t.err.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
  expect(t.code).toBe(0);
  const run = onlyRun(cwd);
  const fromRun = await cli(cwd, ['generate', run, '-p', 'good', '--max-tokens', '5']);
  expect(fromRun.code).toBe(0);
  const m = await cli(cwd, ['merge', run, '-o', 'merged']);
  expect(m.code).toBe(0);
  const trained = await loadTrainedModel({ run });
  const merged = await loadHfCheckpoint(path.join(cwd, 'merged'), { log: recordingLogger() });
  const ids = tf.tensor2d([[3, 7, 11, 2]], [1, 4], 'int32');
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.model.module.forward(ids) as tf.Tensor, merged.module.forward(ids) as tf.Tensor))).dataSync()[0]);
  expect(diff).toBeLessThan(1e-5);
  const fromMerged = await cli(cwd, ['generate', '--model', 'merged', '-p', 'good', '--max-tokens', '5']);
  expect(fromMerged.out).toBe(fromRun.out);
}, 60_000);

test('sharded BERT: LoRA trains and merges; the merged folder predicts as the trained model', async () => {
  const cwd = tempDir('rt-bert');
  const ckpt = path.join(cwd, 'bert');
  writeTinyHfCheckpoint('bert', ckpt, { layers: 2, maxShardBytes: 1500 });
  const t = await cli(cwd, ['train', '-c', trainConfig(cwd, ckpt, { trainable: ['classifier\\..*'] }), '--quiet']);
  expect(t.code).toBe(0);
  const run = onlyRun(cwd);
  expect((await cli(cwd, ['merge', run, '-o', 'merged'])).code).toBe(0);
  const trained = await loadTrainedModel({ run });
  const merged = await loadHfCheckpoint(path.join(cwd, 'merged'), { log: recordingLogger() });
  const recs = [record('a', { text: 'hello world' }), record('b', { text: 'Good films!' })];
  const a = trained.model.predict!(trained.model.encode!(recs));
  const b = merged.predict!(merged.encode!(recs));
  expect(tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])).toBeLessThan(1e-5);
}, 60_000);
