import fs from 'node:fs';
import path from 'node:path';
import { saveSafetensors, SafetensorsFile, tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { record, recordingLogger, rows, tempDir } from './helpers';

function bert(label: string): string {
  const dir = tempDir(label);
  writeTinyHfCheckpoint('bert', dir);
  return dir;
}

/** Rewrites model.safetensors with `edit` applied to its tensors. */
function rewrite(dir: string, edit: (tensors: Map<string, tf.Tensor>) => void): void {
  const file = path.join(dir, 'model.safetensors');
  const st = SafetensorsFile.open(file);
  const tensors = st.getAll();
  st.close();
  edit(tensors);
  saveSafetensors(file, tensors);
  tensors.forEach((t) => t.dispose());
}

test.each(['config.json', 'model.safetensors'])('missing %s names the file', async (file) => {
  const dir = bert('missing');
  fs.rmSync(path.join(dir, file));
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(`${path.join(dir, file)} is missing`);
});

test('missing tokenizer.json: the model loads, and text names the file (side-files.test.ts has the rest)', async () => {
  const dir = bert('missing-tok');
  fs.rmSync(path.join(dir, 'tokenizer.json'));
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  expect(() => m.encode!([record('a', { text: 'hi' })])).toThrow(`${path.join(dir, 'tokenizer.json')} is missing`);
});

test('missing preprocessor_config.json for an image model: it loads, and an image names the file', async () => {
  const dir = tempDir('vit-noproc');
  writeTinyHfCheckpoint('vit', dir);
  fs.rmSync(path.join(dir, 'preprocessor_config.json'));
  const m = await loadHfCheckpoint(dir);
  expect(() => m.encode!([record('a', { image: { width: 8, height: 8, data: new Uint8Array(192) }, label: 'cat' })])).toThrow(/preprocessor_config\.json is missing/);
});

test('unknown model_type lists the supported ones', async () => {
  const dir = bert('t5');
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 't5' }));
  await expect(loadHfCheckpoint(dir)).rejects.toThrow(/config\.json: model_type "t5" is not supported; supported: bert, roberta, gpt2, vit, clip, llama, qwen2, mistral/);
});

test('a bad config value names the key', async () => {
  const dir = bert('badkey');
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, num_attention_heads: 3 }));
  await expect(loadHfCheckpoint(dir)).rejects.toThrow(/hidden_size \(8\) must be divisible by num_attention_heads \(3\)/);
});

test('a wrong-shaped tensor names the file, the tensor and both shapes', async () => {
  const dir = bert('shape');
  rewrite(dir, (t) => {
    t.get('bert.encoder.layer.0.attention.self.query.weight')!.dispose();
    t.set('bert.encoder.layer.0.attention.self.query.weight', tf.zeros([8, 4]));
  });
  await expect(loadHfCheckpoint(dir)).rejects.toThrow(
    /model\.safetensors: tensor "bert\.encoder\.layer\.0\.attention\.self\.query\.weight" has shape \[8,4\] but config\.json .* implies \[8,8\]/,
  );
});

test('a missing body tensor names the file and the tensor; a missing head is only a warning', async () => {
  const dir = bert('missing-tensor');
  rewrite(dir, (t) => {
    t.get('bert.encoder.layer.0.output.dense.bias')!.dispose();
    t.delete('bert.encoder.layer.0.output.dense.bias');
  });
  await expect(loadHfCheckpoint(dir)).rejects.toThrow(/model\.safetensors: missing tensor "bert\.encoder\.layer\.0\.output\.dense\.bias" \(also tried "encoder\.layer\.0\.output\.dense\.bias"\)/);

  const base = tempDir('headless');
  writeTinyHfCheckpoint('bert', base, { withoutHead: true });
  const log = recordingLogger();
  const m = await loadHfCheckpoint(base, { log });
  expect(log.warnings.join('\n')).toMatch(/newly initialised.*classifier\.weight, classifier\.bias/);
  expect(log.warnings.join('\n')).toMatch(/bert\.pooler\.dense\.weight/);
  expect(m.module.getParameter('classifier.weight').shape).toEqual([2, 8]);
});

test('a corrupt safetensors header names the file', async () => {
  const dir = bert('corrupt');
  const file = path.join(dir, 'model.safetensors');
  const bytes = fs.readFileSync(file);
  bytes.write('{"oops', 8, 'utf8');
  fs.writeFileSync(file, bytes);
  await expect(loadHfCheckpoint(dir)).rejects.toThrow(file);
});

test('over-long texts are truncated to max_position_embeddings, keeping [SEP], with one warning', async () => {
  const dir = bert('long');
  const log = recordingLogger();
  const m = await loadHfCheckpoint(dir, { log });
  const long = Array.from({ length: 30 }, () => 'good').join(' ');
  const batch = m.encode!([record('long', { text: long }), record('short', { text: 'bad film' })]);
  const ids = rows((batch.inputs as Record<string, tf.Tensor>).input_ids);
  expect(ids[0]).toHaveLength(16);
  expect(ids[0][0]).toBe(2);
  expect(ids[0][15]).toBe(3);
  expect(log.warnings).toHaveLength(1);
  expect(log.warnings[0]).toMatch(/tokenizer\.json: 1 of 2 texts are longer than 16 tokens \(the model's positions, or model.maxLength\) \(longest: 32 tokens\) and were truncated to 16/);
  // And the model runs on the truncated batch (it would fail on a 32-position lookup).
  expect(m.predict!(batch).shape).toEqual([2, 2]);
});

test('truncation is counted over every batch: one warning, and the model\'s total covers later batches', async () => {
  const log = recordingLogger();
  const m = await loadHfCheckpoint(bert('long-total'), { log });
  const long = (n: number) => Array.from({ length: 20 + n }, () => 'good').join(' ');
  m.encode!([record('a', { text: long(1) }), record('b', { text: 'bad film' })]);
  m.encode!([record('c', { text: long(2) }), record('d', { text: long(3) }), record('e', { text: 'fine' })]);
  // The first text again (a second epoch) is the same text, not a new one.
  m.encode!([record('a', { text: long(1) })]);
  expect(log.warnings).toHaveLength(1);
  expect(log.warnings[0]).toMatch(/1 of 2 texts are longer than 16 tokens .* \(later batches are counted, not reported one by one; the run's summary gives the total\)/);
  expect(m.truncation!()).toEqual({ texts: 3, of: 5, maxLength: 16, longest: 25 });
});

test('a label the model does not know names the record', async () => {
  const m = await loadHfCheckpoint(bert('label'), { log: recordingLogger() });
  expect(() => m.encode!([record('r7', { text: 'good', label: 'meh' })])).toThrow(/Record r7 has label "meh", not one of neg, pos/);
});

test('spec labels of a different count rebuild the classifier instead of failing on its shape', async () => {
  const log = recordingLogger();
  const m = await loadHfCheckpoint(bert('relabel'), { labels: ['a', 'b', 'c'], log });
  expect(m.labels).toEqual(['a', 'b', 'c']);
  expect(m.module.getParameter('classifier.weight').shape).toEqual([3, 8]);
  expect(log.warnings.join('\n')).toMatch(/classifier\.weight/);
});
