/**
 * Base models and transformers' outputs: `architectures` picks the class, `task` overrides
 * it, base checkpoints keep their pooler, and model.outputs() gives logits,
 * last_hidden_state, pooler_output, hidden_states, text_embeds and image_embeds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { readF32Safetensors } from './reference/plain';
import { expectClose, record, recordingLogger, tempDir, testImage } from './helpers';

const TEXTS = ['hello world', 'Good films!'];
const textBatch = (m: HfLoadedModel) => m.encode!(TEXTS.map((text, i) => record(`r${i}`, { text, label: 'pos' })));
const imageBatch = (m: HfLoadedModel) => m.encode!([record('a', { image: testImage(1), label: 'cat' }), record('b', { image: testImage(2), label: 'dog' })]);
const arr = (t: unknown) => (t as tf.Tensor).arraySync() as number[][];
const flat = (t: unknown) => Array.from((t as tf.Tensor).dataSync());

/** tanh(W·h + b) for each row h, in plain JS from the raw weights (W [out, in], PyTorch layout). */
function tanhDense(rows: number[][], W: { data: Float32Array; shape: number[] }, b: { data: Float32Array }): number[][] {
  const [out, inp] = W.shape;
  return rows.map((h) => Array.from({ length: out }, (_, o) => Math.tanh(h.reduce((s, x, i) => s + W.data[o * inp + i] * x, b.data[o]))));
}

function config(dir: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
}

function setArchitectures(dir: string, architectures: string[]): void {
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config(dir), architectures }));
}

test('a base RobertaModel checkpoint with pooler weights loads as RobertaModel and uses them: pooler_output = tanh(W·h[<s>] + b) by hand', async () => {
  const dir = tempDir('roberta-base');
  writeTinyHfCheckpoint('roberta', dir, { base: true, layers: 2, seed: 7 });
  expect(config(dir).architectures).toEqual(['RobertaModel']);
  const log = recordingLogger();
  const m = await loadHfCheckpoint(dir, { log });
  expect(m.className).toBe('RobertaModel');
  expect(m.freshParameters).toEqual([]);
  expect(log.warnings).toEqual([]);
  expect(m.taskType).toBe('FEATURE_EXTRACTION');
  expect(m.outputNames).toEqual(['last_hidden_state', 'pooler_output', 'hidden_states']);
  expect(m.loss).toBeUndefined();
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const batch = textBatch(m);
  const s = (batch.inputs as Record<string, tf.Tensor>).input_ids.shape[1]!;
  const out = m.outputs(batch, ['last_hidden_state', 'pooler_output']);
  expect(Object.keys(out).sort()).toEqual(['last_hidden_state', 'pooler_output']);
  const h = (out.last_hidden_state as tf.Tensor).arraySync() as number[][][];
  expect((out.last_hidden_state as tf.Tensor).shape).toEqual([2, s, 8]);
  expect((out.pooler_output as tf.Tensor).shape).toEqual([2, 8]);
  expectClose(flat(out.pooler_output), tanhDense(h.map((r) => r[0]), W.get('pooler.dense.weight')!, W.get('pooler.dense.bias')!).flat(), 1e-5);
});

test('a base ViTModel checkpoint with pooler weights: ViTModel with its pooler, pooler_output = tanh(W·h[CLS] + b) by hand; without them, no pooler', async () => {
  const dir = tempDir('vit-base');
  writeTinyHfCheckpoint('vit', dir, { base: true, layers: 2, seed: 8 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(m.className).toBe('ViTModel');
  expect(m.freshParameters).toEqual([]);
  expect([...m.module.stateDict().keys()]).toContain('pooler.dense.weight');
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const out = m.outputs(imageBatch(m));
  expect(Object.keys(out).sort()).toEqual(['hidden_states', 'last_hidden_state', 'pooler_output']);
  const h = (out.last_hidden_state as tf.Tensor).arraySync() as number[][][];
  expect((out.last_hidden_state as tf.Tensor).shape).toEqual([2, 5, 8]); // [CLS] + (8/4)² patches
  expectClose(flat(out.pooler_output), tanhDense(h.map((r) => r[0]), W.get('pooler.dense.weight')!, W.get('pooler.dense.bias')!).flat(), 1e-5);
  // hidden_states: embeddings + every layer, before the final layernorm (as transformers).
  const hs = out.hidden_states as tf.Tensor[];
  expect(hs.map((t) => t.shape)).toEqual([[2, 5, 8], [2, 5, 8], [2, 5, 8]]);
  const ln = W.get('layernorm.weight')!.data;
  const lb = W.get('layernorm.bias')!.data;
  const norm = (x: number[]) => {
    const mean = x.reduce((a, b) => a + b, 0) / x.length;
    const v = x.reduce((a, b) => a + (b - mean) ** 2, 0) / x.length;
    return x.map((y, i) => ((y - mean) / Math.sqrt(v + 1e-12)) * ln[i] + lb[i]);
  };
  expectClose(flat(out.last_hidden_state), (hs[2].arraySync() as number[][][]).flat().flatMap(norm), 1e-4);

  const noPool = tempDir('vit-base-nopool');
  writeTinyHfCheckpoint('vit', noPool, { base: true, pooler: false, seed: 8 });
  const n = await loadHfCheckpoint(noPool, { log: recordingLogger() });
  expect(n.outputNames).toEqual(['last_hidden_state', 'hidden_states']);
  expect(() => n.outputs(imageBatch(n), ['pooler_output'])).toThrow(/has no output "pooler_output"; it gives last_hidden_state, hidden_states/);
});

test('hidden_states: layers + 1 entries, embeddings first, the last = last_hidden_state (BERT) / after ln_f (GPT-2); logits alongside', async () => {
  const bert = tempDir('hs-bert');
  writeTinyHfCheckpoint('bert', bert, { layers: 3, seed: 9 });
  const b = await loadHfCheckpoint(bert, { log: recordingLogger() });
  expect(b.outputNames).toEqual(['logits', 'last_hidden_state', 'pooler_output', 'hidden_states']);
  const batch = textBatch(b);
  const out = b.outputs(batch);
  const hs = out.hidden_states as tf.Tensor[];
  expect(hs.map((t) => t.shape)).toEqual(Array(4).fill([2, 6, 8]));
  expect(flat(hs[3])).toEqual(flat(out.last_hidden_state));
  expectClose(flat(tf.softmax(out.logits as tf.Tensor)), flat(b.predict!(batch)), 1e-6);

  const gpt = tempDir('hs-gpt2');
  writeTinyHfCheckpoint('gpt2', gpt, { layers: 2, seed: 9 });
  const g = await loadHfCheckpoint(gpt, { log: recordingLogger() });
  expect(g.className).toBe('GPT2LMHeadModel');
  const gb = textBatch(g);
  const go = g.outputs(gb);
  const ghs = go.hidden_states as tf.Tensor[];
  const s = (gb.inputs as Record<string, tf.Tensor>).input_ids.shape[1]!;
  expect(ghs.map((t) => t.shape)).toEqual(Array(3).fill([2, s, 8]));
  expect(flat(ghs[2])).toEqual(flat(go.last_hidden_state));
  expect(flat(ghs[1])).not.toEqual(flat(ghs[2]));
  // hidden_states[0] = wte[ids] + wpe[positions], by hand.
  const W = readF32Safetensors(path.join(gpt, 'model.safetensors'));
  const wte = W.get('wte.weight')!.data;
  const wpe = W.get('wpe.weight')!.data;
  const ids = arr((gb.inputs as Record<string, tf.Tensor>).input_ids);
  expectClose(flat(ghs[0]), ids.flatMap((row) => row.flatMap((id, p) => Array.from({ length: 8 }, (_, d) => wte[id * 8 + d] + wpe[p * 8 + d]))), 1e-6);
  expect((go.logits as tf.Tensor).shape).toEqual([2, s, config(gpt).vocab_size]);
  expectClose(flat(go.logits), flat(tf.matMul(tf.reshape(go.last_hidden_state as tf.Tensor, [2 * s, 8]), tf.tensor2d(wte, [config(gpt).vocab_size as number, 8]), false, true)), 1e-4);
});

test('architectures picks the class: BertModel, GPT2Model, a base BertModel without a pooler; unknown classes fall back to the task model', async () => {
  const dir = tempDir('arch-bert');
  writeTinyHfCheckpoint('bert', dir, { seed: 4 });
  const cls = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(cls.className).toBe('BertForSequenceClassification');
  setArchitectures(dir, ['BertModel']);
  const base = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(base.className).toBe('BertModel');
  expect(base.labels).toBeUndefined();
  // The task checkpoint's bert.* keys load into the bare model; its pooler too.
  expect(base.outputNames).toContain('pooler_output');
  const batch = textBatch(cls);
  expect(flat(base.outputs(batch, ['pooler_output']).pooler_output)).toEqual(flat(cls.outputs(batch, ['pooler_output']).pooler_output));
  expect(base.meta!.weights).toMatchObject({ unused: ['classifier.bias', 'classifier.weight'].sort() });

  const bare = tempDir('arch-bert-nopool');
  writeTinyHfCheckpoint('bert', bare, { base: true, pooler: false });
  expect((await loadHfCheckpoint(bare, { log: recordingLogger() })).outputNames).toEqual(['last_hidden_state', 'hidden_states']);

  const gpt = tempDir('arch-gpt2');
  writeTinyHfCheckpoint('gpt2', gpt, { base: true });
  const g = await loadHfCheckpoint(gpt, { log: recordingLogger() });
  expect(g.className).toBe('GPT2Model');
  expect(g.points!.generate).toBeUndefined();
  expect(g.outputNames).toEqual(['last_hidden_state', 'hidden_states']);

  setArchitectures(dir, ['BertForMaskedLM']);
  const log = recordingLogger();
  const infos: string[] = [];
  const fallback = await loadHfCheckpoint(dir, { log: { ...log, info: (m) => void infos.push(m) } });
  expect(fallback.className).toBe('BertForSequenceClassification');
  expect(infos.join('\n')).toMatch(/architectures BertForMaskedLM is not a class leantune builds; loading it as BertForSequenceClassification/);
});

test('task overrides architectures; labels given for a base checkpoint build the classifier; a task the model_type lacks is refused', async () => {
  const dir = tempDir('task-roberta');
  writeTinyHfCheckpoint('roberta', dir, { base: true });
  const log = recordingLogger();
  const cls = await loadHfCheckpoint(dir, { log, task: 'text-classification' });
  expect(cls.className).toBe('RobertaForSequenceClassification');
  expect(cls.freshParameters!.every((p) => p.startsWith('classifier.'))).toBe(true);
  expect(cls.outputNames).toEqual(['logits', 'last_hidden_state', 'hidden_states']);
  const withLabels = await loadHfCheckpoint(dir, { log: recordingLogger(), labels: ['a', 'b', 'c'] });
  expect(withLabels.className).toBe('RobertaForSequenceClassification');
  expect(withLabels.labels).toEqual(['a', 'b', 'c']);

  const gpt = tempDir('task-gpt2');
  writeTinyHfCheckpoint('gpt2', gpt, {});
  const g = await loadHfCheckpoint(gpt, { log: recordingLogger(), task: 'feature-extraction' });
  expect(g.className).toBe('GPT2Model');
  const lm = await loadHfCheckpoint(gpt, { log: recordingLogger() });
  const b = textBatch(lm);
  expect(flat(g.outputs(b, ['last_hidden_state']).last_hidden_state)).toEqual(flat(lm.outputs(b, ['last_hidden_state']).last_hidden_state));

  await expect(loadHfCheckpoint(gpt, { log: recordingLogger(), task: 'image-classification' })).rejects.toThrow('model.task "image-classification" does not fit model_type gpt2; it takes text-generation, feature-extraction');
  await expect(loadHfCheckpoint(gpt, { log: recordingLogger(), task: 'nonsense' as never })).rejects.toThrow('("nonsense" is not a task name)');
});

test('CLIP: text_embeds and image_embeds are unit vectors, logits_per_image = exp(logit_scale)·image·textᵀ, logits_per_text its transpose; a missing input is named', async () => {
  const dir = tempDir('clip-out');
  writeTinyHfCheckpoint('clip', dir, { seed: 2 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(m.className).toBe('CLIPModel');
  const batch = m.encode!([record('a', { image: testImage(1), text: 'a cat' }), record('b', { image: testImage(2), text: 'a dog' })]);
  const out = m.outputs(batch, ['text_embeds', 'image_embeds', 'logits_per_image', 'logits_per_text']);
  const img = arr(out.image_embeds);
  const txt = arr(out.text_embeds);
  expect([img.length, img[0].length, txt.length, txt[0].length]).toEqual([2, 4, 2, 4]);
  for (const v of [...img, ...txt]) expect(Math.hypot(...v)).toBeCloseTo(1, 5);
  const scale = Math.exp(readF32Safetensors(path.join(dir, 'model.safetensors')).get('logit_scale')!.data[0]);
  const byHand = img.map((i) => txt.map((t) => scale * i.reduce((s, x, k) => s + x * t[k], 0)));
  expectClose(flat(out.logits_per_image), byHand.flat(), 1e-4);
  expect(arr(out.logits_per_text)).toEqual(arr(tf.transpose(out.logits_per_image as tf.Tensor)));
  const pixelsOnly = { inputs: { pixel_values: (batch.inputs as Record<string, tf.Tensor>).pixel_values }, size: 2 };
  expect(arr(m.outputs(pixelsOnly, ['image_embeds']).image_embeds)).toEqual(img);
  expect(() => m.outputs(pixelsOnly, ['text_embeds'])).toThrow(/needs input_ids/);
  expect(() => m.outputs(batch, ['hidden_states'])).toThrow(/has no output "hidden_states"/);
  expect(() => m.outputs(batch, ['embeddings'])).toThrow(/transformers' names: logits, last_hidden_state/);
});

test('the hf loader takes "task" in the model spec (its optionsSchema lists the tasks)', async () => {
  const { createToolkit } = await import('@leantune/core');
  const plugin = (await import('../src')).default;
  const dir = tempDir('spec-task');
  writeTinyHfCheckpoint('vit', dir, {});
  const toolkit = await createToolkit({ plugins: [plugin] });
  const hf = toolkit.models.get('hf')!;
  expect((hf.optionsSchema as { properties: { task: { enum: string[] } } }).properties.task.enum).toEqual(['feature-extraction', 'text-classification', 'image-classification', 'text-generation', 'zero-shot-image-classification']);
  const m = (await hf.load({ name: 'hf', path: dir, task: 'feature-extraction' }, { log: recordingLogger() } as never)) as HfLoadedModel;
  expect(m.className).toBe('ViTModel');
  await expect(hf.load({ name: 'hf', path: dir, task: 'classify' }, { log: recordingLogger() } as never)).rejects.toThrow('model.task must be one of feature-extraction, text-classification');
});
