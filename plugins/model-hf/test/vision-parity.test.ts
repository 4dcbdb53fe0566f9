import path from 'node:path';
import { tf } from '@leantune/tensor';
import { ClipModel, loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { clipImageFeatures, clipLogitsPerImage, clipTextFeatures, vitLogits } from './reference/models';
import { normalizePixels, readF32Safetensors } from './reference/plain';
import { expectClose, record, recordingLogger, rows, tempDir, testImage } from './helpers';

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

test('ViT logits and probabilities match a plain-JS ViTForImageClassification', async () => {
  const dir = tempDir('vit');
  writeTinyHfCheckpoint('vit', dir, { layers: 2, seed: 21 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(m.labels).toEqual(['cat', 'dog', 'bird']);
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const images = [testImage(1), testImage(2)];
  const batch = m.encode!(images.map((image, i) => record(`i${i}`, { image, label: 'dog' })));
  const probs = rows(m.predict!(batch));
  images.forEach((img, r) => {
    const logits = vitLogits(W, normalizePixels(img.data, 8, 8, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]), { layers: 2, heads: 2, eps: 1e-12 });
    const e = logits.map(Math.exp);
    const s = e.reduce((a, v) => a + v, 0);
    expectClose(probs[r], e.map((v) => v / s), 1e-4);
  });
});

test('CLIP image/text features and logits_per_image match the plain-JS CLIPModel', async () => {
  const dir = tempDir('clip');
  writeTinyHfCheckpoint('clip', dir, { layers: 2, seed: 22 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(m.arch).toBe('clip');
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const eos = (m.tokenizer!.tokenizer.token_to_id('<|endoftext|>'))!;
  const images = [testImage(3), testImage(4)];
  const texts = ['a photo of a cat', 'the dog'];
  const batch = m.encode!(images.map((image, i) => record(`p${i}`, { image, text: texts[i] })));
  const inputs = batch.inputs as Record<string, tf.Tensor>;
  const clip = m.module as ClipModel;
  const out = clip.forward(inputs.pixel_values, inputs.input_ids, inputs.attention_mask);
  const opts = { layers: 2, heads: 2, eps: 1e-5 };
  const ids = rows(inputs.input_ids);
  const mask = rows(inputs.attention_mask);
  const refText = ids.map((row, r) => clipTextFeatures(W, row.filter((_, i) => mask[r][i] === 1), eos, opts));
  const refImage = images.map((img) => clipImageFeatures(W, normalizePixels(img.data, 8, 8, CLIP_MEAN, CLIP_STD), opts));
  const textFeatures = rows(clip.textFeatures(inputs.input_ids, inputs.attention_mask));
  refText.forEach((ref, r) => expectClose(textFeatures[r], ref));
  const refLogits = clipLogitsPerImage(W, refImage, refText);
  rows(out.logitsPerImage).forEach((row, r) => expectClose(row, refLogits[r], 1e-3));
  // The contrastive loss is the mean of both directions' CE with matches on the diagonal.
  const ce = (l: number[], t: number) => Math.log(l.reduce((a, v) => a + Math.exp(v), 0)) - l[t];
  const transposed = [0, 1].map((t) => refLogits.map((row) => row[t]));
  const expected = ((ce(refLogits[0], 0) + ce(refLogits[1], 1)) / 2 + (ce(transposed[0], 0) + ce(transposed[1], 1)) / 2) / 2;
  expect(m.loss!(batch, false).dataSync()[0]).toBeCloseTo(expected, 3);
  tf.dispose([out.imageEmbeds, out.textEmbeds, out.logitsPerImage]);
});

test('CLIP with labels is a zero-shot classifier over "a photo of a {label}." prompts', async () => {
  const dir = tempDir('clip-zs');
  writeTinyHfCheckpoint('clip', dir, { seed: 23 });
  const m = await loadHfCheckpoint(dir, { labels: ['cat', 'dog'], log: recordingLogger() });
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const eos = (m.tokenizer!.tokenizer.token_to_id('<|endoftext|>'))!;
  const opts = { layers: 1, heads: 2, eps: 1e-5 };
  const prompts = ['a photo of a cat.', 'a photo of a dog.'].map((t) => m.tokenizer!.tokenizer.encode(t).ids);
  const img = testImage(5);
  const ref = clipLogitsPerImage(W, [clipImageFeatures(W, normalizePixels(img.data, 8, 8, CLIP_MEAN, CLIP_STD), opts)], prompts.map((p) => clipTextFeatures(W, p, eos, opts)))[0];
  const e = ref.map(Math.exp);
  const probs = rows(m.predict!(m.encode!([record('z', { image: img, label: 'dog' })])))[0];
  expectClose(probs, e.map((v) => v / (e[0] + e[1])), 1e-4);
});
