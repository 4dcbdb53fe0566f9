/**
 * Llama-family decoders (issue 14): LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM
 * logits, hidden states and loss against a plain-JS re-computation from the raw weights
 * (test/reference/llama.ts, written from modeling_llama.py / modeling_qwen2.py), ≤ 1e-4.
 */
import fs from 'node:fs';
import path from 'node:path';
import { saveSafetensors, tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel, type TinyArch } from '../src';
import { llamaForward, type LlamaRefConfig } from './reference/llama';
import { readF32Safetensors } from './reference/plain';
import { expectClose, record, recordingLogger, rows, tempDir } from './helpers';

const TEXTS = ['hello world', 'the good film is the day hello'];
const LLAMA3 = { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 8, original_max_position_embeddings: 256 };

interface Case {
  name: string;
  arch: TinyArch;
  decoder: NonNullable<Parameters<typeof writeTinyHfCheckpoint>[2]>['decoder'];
  ref: Partial<LlamaRefConfig>;
}

const CASES: Case[] = [
  { name: 'llama, GQA with 2 key/value heads, tied embeddings', arch: 'llama', decoder: { kvHeads: 2, tied: true }, ref: { kvHeads: 2, tied: true } },
  { name: 'llama, untied lm_head, 1 key/value head (MQA), rope_theta 500000', arch: 'llama', decoder: { kvHeads: 1, tied: false, ropeTheta: 500000 }, ref: { kvHeads: 1, tied: false, theta: 500000 } },
  { name: 'llama, llama3 rope scaling', arch: 'llama', decoder: { kvHeads: 2, tied: true, ropeScaling: LLAMA3 }, ref: { kvHeads: 2, tied: true, llama3: LLAMA3 } },
  { name: 'qwen2, q/k/v biases, untied', arch: 'qwen2', decoder: { kvHeads: 2, tied: false }, ref: { kvHeads: 2, tied: false, qkvBias: true } },
  { name: 'mistral, sliding_window 3 shorter than the text', arch: 'mistral', decoder: { kvHeads: 2, tied: false, slidingWindow: 3 }, ref: { kvHeads: 2, tied: false, window: 3 } },
  { name: 'mistral, sliding_window null', arch: 'mistral', decoder: { kvHeads: 4, tied: true, slidingWindow: null }, ref: { kvHeads: 4, tied: true } },
];

function encode(m: HfLoadedModel, texts: string[]) {
  return m.encode!(texts.map((text, i) => record(`r${i}`, { text })));
}

function unpadded(batch: ReturnType<typeof encode>, row: number): number[] {
  const inputs = batch.inputs as Record<string, tf.Tensor>;
  const mask = rows(inputs.attention_mask)[row];
  return rows(inputs.input_ids)[row].filter((_, i) => mask[i] === 1);
}

describe.each(CASES)('$name', ({ arch, decoder, ref }) => {
  const dir = tempDir(`parity-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed: 71, decoder });
  const config: LlamaRefConfig = { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: false, tied: true, ...ref };

  test('logits of a right-padded batch and the next-token loss match the plain-JS reference (≤ 1e-4)', async () => {
    const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
    expect(m.arch).toBe(arch);
    expect(m.className).toBe(`${{ llama: 'Llama', qwen2: 'Qwen2', mistral: 'Mistral' }[arch as 'llama']}ForCausalLM`);
    const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
    const batch = encode(m, TEXTS);
    const lengths = [0, 1].map((r) => unpadded(batch, r).length);
    expect(lengths[1]).toBeGreaterThan(lengths[0]); // row 0 is padded
    if (ref.window) expect(lengths[1]).toBeGreaterThan(ref.window + 2); // the window hides keys
    const out = m.outputs(batch, ['logits', 'last_hidden_state']);
    const logits = out.logits as tf.Tensor;
    const all = logits.arraySync() as number[][][];
    const hidden = (out.last_hidden_state as tf.Tensor).arraySync() as number[][][];
    for (const r of [0, 1]) {
      const ids = unpadded(batch, r);
      const want = llamaForward(W, ids, config);
      for (let t = 0; t < ids.length; t++) {
        expectClose(all[r][t], want.logits[t], 1e-4);
        expectClose(hidden[r][t], want.hidden[t], 1e-4);
      }
    }
    tf.dispose([logits, out.last_hidden_state as tf.Tensor]);
    const single = encode(m, [TEXTS[1]]);
    expect(Math.abs(m.loss!(single, false).dataSync()[0] - llamaForward(W, unpadded(single, 0), config).loss)).toBeLessThan(1e-4);
    m.module.dispose();
  });
});

test('sharded llama (untied) loads with bit-identical logits; the bare LlamaModel loads the same checkpoint', async () => {
  const one = tempDir('llama-one');
  const shards = tempDir('llama-shards');
  const decoder = { kvHeads: 2, tied: false };
  writeTinyHfCheckpoint('llama', one, { layers: 2, seed: 72, decoder });
  writeTinyHfCheckpoint('llama', shards, { layers: 2, seed: 72, decoder, maxShardBytes: 4000 });
  const a = await loadHfCheckpoint(one, { log: recordingLogger() });
  const b = await loadHfCheckpoint(shards, { log: recordingLogger() });
  const ids = tf.tensor2d([[5, 9, 200, 17, 3]], [1, 5], 'int32');
  const mask = tf.ones([1, 5], 'int32');
  const la = a.outputs({ inputs: { input_ids: ids, attention_mask: mask }, size: 1 }, ['logits']).logits as tf.Tensor;
  const lb = b.outputs({ inputs: { input_ids: ids, attention_mask: mask }, size: 1 }, ['logits']).logits as tf.Tensor;
  expect(Array.from(lb.dataSync())).toEqual(Array.from(la.dataSync()));
  const bare = await loadHfCheckpoint(one, { log: recordingLogger(), task: 'feature-extraction' });
  expect(bare.className).toBe('LlamaModel');
  const W = readF32Safetensors(path.join(one, 'model.safetensors'));
  const h = bare.outputs({ inputs: { input_ids: ids, attention_mask: mask }, size: 1 }, ['last_hidden_state', 'hidden_states']);
  const want = llamaForward(W, [5, 9, 200, 17, 3], { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: false, tied: false });
  const got = (h.last_hidden_state as tf.Tensor).arraySync() as number[][][];
  want.hidden.forEach((row, t) => expectClose(got[0][t], row, 1e-4));
  // transformers' hidden_states: embeddings, each layer's output, the last one after the final norm.
  const states = h.hidden_states as tf.Tensor[];
  expect(states).toHaveLength(3);
  expectClose(Array.from(states[2].dataSync()), Array.from((h.last_hidden_state as tf.Tensor).dataSync()), 0);
  expect(bare.meta?.weights).toMatchObject({ unused: ['lm_head.weight'] });
  tf.dispose([la, lb, ids, mask, h.last_hidden_state as tf.Tensor, ...states]);
});

test('a bfloat16 checkpoint (as the Hub ships Llama, Qwen2.5, SmolLM2) loads and matches the reference on the BF16 values', async () => {
  const dir = tempDir('llama-bf16');
  writeTinyHfCheckpoint('qwen2', dir, { layers: 2, seed: 73, decoder: { kvHeads: 2, tied: true } });
  const f32 = path.join(dir, 'model.safetensors');
  const dict = new Map([...readF32Safetensors(f32)].map(([n, t]) => [n, tf.tensor(t.data, t.shape)]));
  saveSafetensors(f32, dict, { format: 'pt' }, { dtype: 'BF16' });
  tf.dispose([...dict.values()]);
  const W = readF32Safetensors(f32);
  const bytes = fs.readFileSync(f32);
  const header = JSON.parse(bytes.subarray(8, 8 + Number(bytes.readBigUInt64LE(0))).toString('utf8'));
  expect(header['model.norm.weight'].dtype).toBe('BF16');
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const ids = [5, 9, 200, 17, 3, 44];
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  const got = (m.module.forward(input) as tf.Tensor).arraySync() as number[][][];
  const want = llamaForward(W, ids, { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: true, tied: true });
  want.logits.forEach((row, t) => expectClose(got[0][t], row, 1e-4));
  input.dispose();
});

test('key/value prefixes (prefix tuning, GQA: one per key/value head) match the reference: always attended, positions start after them', async () => {
  const dir = tempDir('llama-prefix');
  writeTinyHfCheckpoint('llama', dir, { layers: 2, seed: 74, decoder: { kvHeads: 2, tied: false } });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const a = m.points!.attentionPrefix!;
  expect(a.shape(1)).toEqual({ heads: 2, headDim: 8 });
  const prefixes = [0, 1].map((l) => ({ key: tf.randomNormal([2, 3, 8], 0, 1, 'float32', 30 + l), value: tf.randomNormal([2, 3, 8], 0, 1, 'float32', 40 + l) }));
  const off = prefixes.map((p, l) => a.addPrefix(l, () => p));
  const ids = [5, 9, 200, 17, 3, 44];
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  const got = (m.module.forward(input, tf.ones([1, ids.length], 'int32')) as tf.Tensor).arraySync() as number[][][];
  off.forEach((d) => d());
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const prefix = prefixes.map((p) => ({ key: p.key.arraySync() as number[][][], value: p.value.arraySync() as number[][][] }));
  const want = llamaForward(W, ids, { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: false, tied: false, prefix });
  want.logits.forEach((row, t) => expectClose(got[0][t], row, 1e-4));
  // Without the prefix the logits differ: the prefix reaches every layer's attention.
  const plain = llamaForward(W, ids, { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: false, tied: false });
  expect(Math.max(...plain.logits[5].map((v, i) => Math.abs(v - got[0][5][i])))).toBeGreaterThan(1e-3);
  tf.dispose([input, ...prefixes.flatMap((p) => [p.key, p.value])]);
});

test.each([
  ['use_sliding_window from max_window_layers', { use_sliding_window: true, sliding_window: 3, max_window_layers: 1 }],
  ['layer_types', { sliding_window: 3, layer_types: ['full_attention', 'sliding_attention'] }],
])('qwen2 with sliding windows on some layers (%s): layer 0 full, layer 1 windowed, as the reference', async (_name, fields) => {
  const dir = tempDir('qwen2-window');
  writeTinyHfCheckpoint('qwen2', dir, { layers: 2, seed: 75, decoder: { kvHeads: 2, tied: true } });
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), ...fields }));
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const ids = [5, 9, 200, 17, 3, 44, 8];
  const input = tf.tensor2d([ids], [1, ids.length], 'int32');
  const got = (m.module.forward(input) as tf.Tensor).arraySync() as number[][][];
  const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
  const base = { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: true, tied: true };
  llamaForward(W, ids, { ...base, windows: [undefined, 3] }).logits.forEach((row, t) => expectClose(got[0][t], row, 1e-4));
  // Both layers windowed, or neither, would differ.
  const last = got[0][6];
  for (const windows of [[3, 3], [undefined, undefined]]) {
    const other = llamaForward(W, ids, { ...base, windows }).logits[6];
    expect(Math.max(...other.map((v, i) => Math.abs(v - last[i])))).toBeGreaterThan(1e-3);
  }
  input.dispose();
});

test('bad configs name the field: an unknown rope_type, heads not a multiple of num_key_value_heads', async () => {
  const dir = tempDir('llama-bad');
  writeTinyHfCheckpoint('llama', dir, { decoder: { ropeScaling: { rope_type: 'yarn', factor: 4 } } });
  await expect(loadHfCheckpoint(dir, { log: recordingLogger() })).rejects.toThrow(/config\.json: rope_scaling\.rope_type "yarn" is not supported/);
  const dir2 = tempDir('llama-bad2');
  writeTinyHfCheckpoint('llama', dir2, { decoder: { kvHeads: 3 } });
  await expect(loadHfCheckpoint(dir2, { log: recordingLogger() })).rejects.toThrow(/num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
});
