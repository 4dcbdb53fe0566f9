/**
 * attentionPrefix against an independent computation: BERT and GPT-2 forward passes written
 * by hand on plain arrays, with transformers' past_key_values semantics (prefix keys/values
 * [heads, p, headDim] come before the sequence's own, every query sees all of them, the
 * padding mask covers only the sequence). Also: padded batches, gradients, checkpointing.
 */
import path from 'node:path';
import type { HfLoadedModel } from '../src';
import { setGradientCheckpointing, tf, variableGradients } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { add, conv1d, embed, gelu, geluNew, layerNorm, linear, map, softmax, w, type M, type Weights } from './reference/plain';
import { readF32Safetensors } from './reference/plain';
import { expectClose, record, recordingLogger, rows, tempDir } from './helpers';

type Prefix = { key: number[][][]; value: number[][][] }; // [heads][p][headDim]

/** softmax(q·kᵀ/√hd)·v per head with the prefix rows first, written out loop by loop. */
function attendWithPrefix(q: M, k: M, v: M, heads: number, prefix: Prefix, visible: (i: number, j: number) => boolean): M {
  const s = q.length;
  const d = q[0].length;
  const hd = d / heads;
  const out: M = Array.from({ length: s }, () => new Array<number>(d).fill(0));
  for (let h = 0; h < heads; h++) {
    const keys = [...prefix.key[h], ...k.map((row) => row.slice(h * hd, (h + 1) * hd))];
    const values = [...prefix.value[h], ...v.map((row) => row.slice(h * hd, (h + 1) * hd))];
    const p = prefix.key[h].length;
    for (let i = 0; i < s; i++) {
      const qi = q[i].slice(h * hd, (h + 1) * hd);
      const seen = keys.map((_, j) => j).filter((j) => j < p || visible(i, j - p));
      const probs = softmax(seen.map((j) => qi.reduce((a, x, c) => a + x * keys[j][c], 0) / Math.sqrt(hd)));
      for (let c = 0; c < hd; c++) out[i][h * hd + c] = seen.reduce((a, j, n) => a + probs[n] * values[j][c], 0);
    }
  }
  return out;
}

function bertWithPrefix(W: Weights, ids: number[], prefixes: Prefix[], heads: number): number[] {
  let h = add(add(embed(W, 'bert.embeddings.word_embeddings.weight', ids), embed(W, 'bert.embeddings.token_type_embeddings.weight', ids.map(() => 0))), embed(W, 'bert.embeddings.position_embeddings.weight', ids.map((_, i) => i)));
  h = layerNorm(h, W, 'bert.embeddings.LayerNorm', 1e-12);
  prefixes.forEach((prefix, l) => {
    const L = `bert.encoder.layer.${l}`;
    const ctx = attendWithPrefix(linear(h, W, `${L}.attention.self.query`), linear(h, W, `${L}.attention.self.key`), linear(h, W, `${L}.attention.self.value`), heads, prefix, () => true);
    const a = layerNorm(add(linear(ctx, W, `${L}.attention.output.dense`), h), W, `${L}.attention.output.LayerNorm`, 1e-12);
    h = layerNorm(add(linear(map(linear(a, W, `${L}.intermediate.dense`), gelu), W, `${L}.output.dense`), a), W, `${L}.output.LayerNorm`, 1e-12);
  });
  return linear(map(linear([h[0]], W, 'bert.pooler.dense'), Math.tanh), W, 'classifier')[0];
}

function gpt2WithPrefix(W: Weights, ids: number[], prefixes: Prefix[], heads: number): M {
  let h = add(embed(W, 'wte.weight', ids), embed(W, 'wpe.weight', ids.map((_, i) => i)));
  prefixes.forEach((prefix, l) => {
    const L = `h.${l}`;
    const qkv = conv1d(layerNorm(h, W, `${L}.ln_1`, 1e-5), W, `${L}.attn.c_attn`);
    const d = h[0].length;
    const ctx = attendWithPrefix(qkv.map((r) => r.slice(0, d)), qkv.map((r) => r.slice(d, 2 * d)), qkv.map((r) => r.slice(2 * d)), heads, prefix, (i, j) => j <= i);
    h = add(h, conv1d(ctx, W, `${L}.attn.c_proj`));
    h = add(h, conv1d(map(conv1d(layerNorm(h, W, `${L}.ln_2`, 1e-5), W, `${L}.mlp.c_fc`), geluNew), W, `${L}.mlp.c_proj`));
  });
  h = layerNorm(h, W, 'ln_f', 1e-5);
  const wte = w(W, 'wte.weight');
  const [vocab, d] = wte.shape;
  return h.map((row) => Array.from({ length: vocab }, (_, v) => row.reduce((a, x, c) => a + x * wte.data[v * d + c], 0)));
}

/** Seeded prefixes [heads, p, headDim] for every layer (p differs per layer; 0 on one). */
function makePrefixes(layers: number, heads: number, headDim: number, lengths: number[]): Prefix[] {
  let s = 7;
  const next = () => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1;
  const block = (p: number) => Array.from({ length: heads }, () => Array.from({ length: p }, () => Array.from({ length: headDim }, next)));
  return Array.from({ length: layers }, (_, l) => ({ key: block(lengths[l]), value: block(lengths[l]) }));
}

function attach(m: HfLoadedModel, prefixes: Prefix[]) {
  const offs = prefixes.map((p, l) => {
    const { heads, headDim } = m.points!.attentionPrefix!.shape(l);
    const shape: [number, number, number] = [heads, p.key[0].length, headDim];
    return m.points!.attentionPrefix!.addPrefix(l, () => ({ key: tf.tensor3d(p.key.flat(2), shape), value: tf.tensor3d(p.value.flat(2), shape) }));
  });
  return () => offs.forEach((d) => d());
}

const TEXTS = ['hello world', 'the good film is the day', 'Good films!'];

test('BERT with key/value prefixes on both layers matches the hand-written attention, row by row of a padded batch', async () => {
  const dir = tempDir('prefix-bert');
  writeTinyHfCheckpoint('bert', dir, { layers: 2, seed: 31 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const { heads, headDim } = m.points!.attentionPrefix!.shape(0);
  expect({ heads, headDim }).toEqual({ heads: 2, headDim: 4 });
  const prefixes = makePrefixes(2, heads, headDim, [3, 2]);
  attach(m, prefixes);
  const batch = m.encode!(TEXTS.map((text, i) => record(`r${i}`, { text })));
  const i = batch.inputs as Record<string, tf.Tensor>;
  const logits = rows(m.module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids }) as tf.Tensor);
  const ids = rows(i.input_ids);
  const mask = rows(i.attention_mask);
  for (let r = 0; r < TEXTS.length; r++) {
    const own = ids[r].filter((_, t) => mask[r][t] === 1);
    expectClose(logits[r], bertWithPrefix(W, own, prefixes, heads), 5e-5);
  }
  // The hand computation is not trivially the base model's: without prefixes it differs.
  const plain = bertWithPrefix(W, ids[0].filter((_, t) => mask[0][t] === 1), makePrefixes(2, heads, headDim, [0, 0]), heads);
  expect(Math.max(...plain.map((v, k) => Math.abs(v - logits[0][k])))).toBeGreaterThan(1e-3);
});

test('GPT-2 with key/value prefixes (seen by every query under the causal mask) matches the hand-written attention', async () => {
  const dir = tempDir('prefix-gpt2');
  writeTinyHfCheckpoint('gpt2', dir, { layers: 2, seed: 32 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const { heads, headDim } = m.points!.attentionPrefix!.shape(1);
  const prefixes = makePrefixes(2, heads, headDim, [0, 4]);
  attach(m, prefixes);
  const batch = m.encode!(TEXTS.map((text, i) => record(`r${i}`, { text })));
  const i = batch.inputs as Record<string, tf.Tensor>;
  const logits = m.module.forward(i.input_ids, i.attention_mask) as tf.Tensor;
  const all = logits.arraySync() as number[][][];
  const ids = rows(i.input_ids);
  const mask = rows(i.attention_mask);
  for (let r = 0; r < TEXTS.length; r++) {
    const own = ids[r].filter((_, t) => mask[r][t] === 1);
    const expected = gpt2WithPrefix(W, own, prefixes, heads);
    own.forEach((_, t) => expectClose(all[r][t], expected[t], 5e-5));
  }
});

test('gradients reach the prefix parameters (also with gradient checkpointing on: layers with a prefix are not checkpointed), and none reach the frozen base', async () => {
  const dir = tempDir('prefix-grad');
  writeTinyHfCheckpoint('bert', dir, { layers: 2, seed: 33 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  m.module.freeze();
  const { heads, headDim } = m.points!.attentionPrefix!.shape(0);
  const key = tf.variable(tf.randomNormal([heads, 2, headDim], 0, 0.5, 'float32', 1), true, 'prefix_key');
  const value = tf.variable(tf.randomNormal([heads, 2, headDim], 0, 0.5, 'float32', 2), true, 'prefix_value');
  for (let l = 0; l < 2; l++) m.points!.attentionPrefix!.addPrefix(l, () => ({ key, value }));
  const batch = m.encode!([record('a', { text: 'hello world', label: 'pos' }), record('b', { text: 'Good films!', label: 'neg' })]);
  const base = [...m.module.namedParameters()];
  for (const checkpointing of [false, true]) {
    setGradientCheckpointing(m.module, checkpointing);
    m.module.train(true);
    const { value: loss, grads } = variableGradients(() => m.loss!(batch, true), [key, value]);
    expect(loss.dataSync()[0]).toBeGreaterThan(0);
    expect(Object.keys(grads).sort()).toEqual(['prefix_key', 'prefix_value']);
    for (const name of ['prefix_key', 'prefix_value']) expect(Math.max(...Array.from(tf.abs(grads[name]).dataSync()))).toBeGreaterThan(1e-6);
    // Registering changed no parameter's requiresGrad: the base stays frozen for the trainer.
    expect(base.filter(([, p]) => p.requiresGrad)).toEqual([]);
  }
});
