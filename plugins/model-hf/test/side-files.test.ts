/**
 * Side files only when needed: a folder with config.json and the weights alone loads;
 * tokenizer.json / preprocessor_config.json are read when text / images are given, and
 * their absence is named then.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, TINY_ARCHS, type HfLoadedModel } from '../src';
import { record, recordingLogger, tempDir, testImage } from './helpers';

const SIDE = ['tokenizer.json', 'preprocessor_config.json', 'tokenizer_config.json'];

function bare(arch: (typeof TINY_ARCHS)[number], label: string): { full: string; bare: string } {
  const full = tempDir(`${label}-full`);
  writeTinyHfCheckpoint(arch, full, { seed: 3 });
  const dir = tempDir(`${label}-bare`);
  writeTinyHfCheckpoint(arch, dir, { seed: 3 });
  for (const f of SIDE) fs.rmSync(path.join(dir, f), { force: true });
  expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
  return { full, bare: dir };
}

function textBatch(m: HfLoadedModel) {
  return m.encode!([record('a', { text: 'hello world', label: 'pos' }), record('b', { text: 'Good films!', label: 'neg' })]);
}

test.each(['bert', 'roberta', 'gpt2', 'llama', 'qwen2', 'mistral'] as const)('%s: config.json + weights load; token ids give the outputs of the full folder; text names tokenizer.json', async (arch) => {
  const { full, bare: dir } = bare(arch, arch);
  const a = await loadHfCheckpoint(full, { log: recordingLogger() });
  const b = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(b.tokenizer).toBeUndefined();
  const batch = textBatch(a); // token ids, made with the full folder's tokenizer
  const out = (m: HfLoadedModel) => Array.from((m.loss && !m.predict ? m.loss(batch, false) : m.predict!(batch)).dataSync());
  expect(out(b)).toEqual(out(a));
  const missing = `${path.join(dir, 'tokenizer.json')} is missing`;
  expect(() => textBatch(b)).toThrow(missing);
  expect(() => textBatch(b)).toThrow(/needs tokenizer\.json to read text/);
  expect(() => b.points!.tokenizer!.encode('hi')).toThrow(missing);
});

test('vit: config.json + weights load; pixel_values give the outputs of the full folder; an image names preprocessor_config.json', async () => {
  const { full, bare: dir } = bare('vit', 'vit');
  const a = await loadHfCheckpoint(full, { log: recordingLogger() });
  const b = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const batch = a.encode!([record('a', { image: testImage(1), label: 'cat' })]);
  expect(Array.from(b.predict!(batch).dataSync())).toEqual(Array.from(a.predict!(batch).dataSync()));
  expect(() => b.encode!([record('a', { image: testImage(1), label: 'cat' })])).toThrow(`${path.join(dir, 'preprocessor_config.json')} is missing; ViT needs preprocessor_config.json to read images`);
});

test('clip: config.json + weights load; pixels and token ids give the full folder\'s loss; images or text name the missing file', async () => {
  const { full, bare: dir } = bare('clip', 'clip');
  const a = await loadHfCheckpoint(full, { log: recordingLogger() });
  const b = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const recs = [record('a', { image: testImage(1), text: 'a cat' }), record('b', { image: testImage(2), text: 'a dog' })];
  const batch = a.encode!(recs);
  expect(Array.from(b.loss!(batch, false).dataSync())).toEqual(Array.from(a.loss!(batch, false).dataSync()));
  expect(() => b.encode!(recs)).toThrow(`${path.join(dir, 'preprocessor_config.json')} is missing`);
  fs.copyFileSync(path.join(full, 'preprocessor_config.json'), path.join(dir, 'preprocessor_config.json'));
  const c = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(() => c.encode!(recs)).toThrow(`${path.join(dir, 'tokenizer.json')} is missing; CLIP needs tokenizer.json to read text`);
  // Zero-shot prompts are text too.
  const z = await loadHfCheckpoint(dir, { log: recordingLogger(), labels: ['cat', 'dog'] });
  const pixels = z.encode!([record('a', { image: testImage(1), label: 'cat' })]);
  expect(() => z.predict!(pixels)).toThrow(`${path.join(dir, 'tokenizer.json')} is missing`);
  tf.dispose(pixels.inputs as Record<string, tf.Tensor>);
});
