import path from 'node:path';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { bertLogits, gpt2Forward } from './reference/models';
import { readF32Safetensors } from './reference/plain';
import { expectClose, record, recordingLogger, rows, tempDir } from './helpers';

const TEXTS = ['hello world', 'Good films!'];

function encode(m: HfLoadedModel, texts: string[]) {
  return m.encode!(texts.map((text, i) => record(`r${i}`, { text })));
}

function unpadded(batch: ReturnType<typeof encode>, row: number): number[] {
  const inputs = batch.inputs as Record<string, tf.Tensor>;
  const ids = rows(inputs.input_ids)[row];
  const mask = rows(inputs.attention_mask)[row];
  return ids.filter((_, i) => mask[i] === 1);
}

describe('BERT', () => {
  const dir = tempDir('bert');
  writeTinyHfCheckpoint('bert', dir, { layers: 2, seed: 11 });

  test('WordPiece ids match the fixture vocabulary by hand', async () => {
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
    const batch = encode(m, TEXTS);
    // [CLS]=2 hello=18 world=19 [SEP]=3; "films" → film=15 ##s=20, "!"=25, lower-cased "good"=11; pad [PAD]=0.
    expect(rows((batch.inputs as Record<string, tf.Tensor>).input_ids)).toEqual([
      [2, 18, 19, 3, 0, 0],
      [2, 11, 15, 20, 25, 3],
    ]);
    expect(m.labels).toEqual(['neg', 'pos']);
    expect(m.arch).toBe('bert');
  });

  test('classifier logits match a plain-JS BertForSequenceClassification (padded batch)', async () => {
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
    const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
    const batch = encode(m, TEXTS);
    const i = batch.inputs as Record<string, tf.Tensor>;
    const logits = rows(m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids }) as tf.Tensor);
    for (const r of [0, 1]) {
      expectClose(logits[r], bertLogits(W, unpadded(batch, r), { roberta: false, layers: 2, heads: 2, eps: 1e-12, padId: 0 }));
    }
    // The loss is the mean CE of those logits against the labels (pos, neg).
    const labelled = m.encode!([record('a', { text: TEXTS[0], label: 'pos' }), record('b', { text: TEXTS[1], label: 'neg' })]);
    const ce = (l: number[], t: number) => Math.log(l.reduce((a, v) => a + Math.exp(v), 0)) - l[t];
    expect(m.loss!(labelled, false).dataSync()[0]).toBeCloseTo((ce(logits[0], 1) + ce(logits[1], 0)) / 2, 4);
  });
});

test('RoBERTa logits (positions offset by padding_idx + 1, padded rows) match the plain-JS reference', async () => {
  const dir = tempDir('roberta');
  writeTinyHfCheckpoint('roberta', dir, { layers: 2, seed: 12 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const batch = encode(m, ['hello world', 'the good film is the day']);
  const ids = rows((batch.inputs as Record<string, tf.Tensor>).input_ids);
  expect(ids[0][0]).toBe(0); // <s>
  expect(ids[0][ids[0].indexOf(2)]).toBe(2); // </s> present
  expect(ids[0][ids[0].length - 1]).toBe(1); // right padding with <pad> = padding_idx
  const i = batch.inputs as Record<string, tf.Tensor>;
  const logits = rows(m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask }) as tf.Tensor);
  for (const r of [0, 1]) {
    expectClose(logits[r], bertLogits(W, unpadded(batch, r), { roberta: true, layers: 2, heads: 2, eps: 1e-5, padId: 1 }));
  }
});

describe.each([false, true])('GPT-2 (transformer. prefix in file: %s)', (prefixed) => {
  test('logits through the tied lm_head and the next-token loss match the plain-JS reference', async () => {
    const dir = tempDir('gpt2');
    writeTinyHfCheckpoint('gpt2', dir, { layers: 2, seed: 13, gpt2Prefix: prefixed });
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
    expect(m.arch).toBe('gpt2');
    const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
    const opts = { prefix: prefixed ? 'transformer.' : '', layers: 2, heads: 2, eps: 1e-5 };
    const batch = encode(m, ['hello world', 'the good film is the day']);
    const i = batch.inputs as Record<string, tf.Tensor>;
    const logits = m.module.forward(i.input_ids, i.attention_mask) as tf.Tensor;
    const all = logits.arraySync() as number[][][];
    for (const r of [0, 1]) {
      const ids = unpadded(batch, r);
      const ref = gpt2Forward(W, ids, opts);
      for (let t = 0; t < ids.length; t++) expectClose(all[r][t], ref.logits[t], 3e-4);
    }
    const single = encode(m, ['the good film is the day']);
    expect(m.loss!(single, false).dataSync()[0]).toBeCloseTo(gpt2Forward(W, unpadded(single, 0), opts).loss, 4);
    logits.dispose();
  });
});
