/**
 * Prefix tuning on tiny Hub-layout BERT and GPT-2: the saved prompt_embeddings row is PEFT's
 * past_key_values flattening (view [n, 2L, H, hd], layer i's key at 2i and value at 2i+1),
 * checked against prefixes registered by hand; the projection folds at save; PEFT's files;
 * refusals; GPT-2 generation with prefixes, cache = no cache, and after save → load.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readSafetensorsHeader, tf } from '@leantune/tensor';
import { injectPrefixTuning, loadPrefixTuning, PREFIX_TUNING_CHILD, type PrefixTuningConfig } from '../src';
import { argmax, logits, maxDiff, patchedLoads, peftPromptHeader, record, tempDir, tinyHf } from '../../method-prompt-tuning/test/helpers';

const TEXTS = ['hello world', 'the good day', 'Good films!'];

function config(partial: Partial<PrefixTuningConfig> = {}): PrefixTuningConfig {
  return { num_virtual_tokens: 3, prefix_projection: false, encoder_hidden_size: null, init_weights: null, modules_to_save: null, ...partial };
}

beforeAll(() => tf.setBackend('cpu'));

describe.each(['bert', 'gpt2'] as const)('%s', (arch) => {
  const hf = tinyHf(arch, 33);

  test('prompt_embeddings is PEFT\'s past_key_values layout: the same outputs as those prefixes registered by hand', async () => {
    const m = await hf.load();
    const handle = injectPrefixTuning(m, config());
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const withMethod = logits(m, batch);
    const flat = handle.encoder.folded();
    const point = m.points!.attentionPrefix!;
    const { heads, headDim } = point.shape(0);
    const L = point.layers;
    expect(flat.shape).toEqual([3, L * 2 * heads * headDim]);
    // PEFT's get_prompt: view(b, n, 2L, H, hd).permute([2, 0, 3, 1, 4]).split(2) → per layer (key, value) [b, H, n, hd].
    const pkv = tf.transpose(tf.reshape(flat, [3, 2 * L, heads, headDim]), [1, 2, 0, 3]);
    const byHand = await hf.load();
    for (let i = 0; i < L; i++) {
      const key = tf.squeeze(tf.slice(pkv, [2 * i, 0, 0, 0], [1, -1, -1, -1]), [0]);
      const value = tf.squeeze(tf.slice(pkv, [2 * i + 1, 0, 0, 0], [1, -1, -1, -1]), [0]);
      byHand.points!.attentionPrefix!.addPrefix(i, () => ({ key, value }));
    }
    expect(maxDiff(withMethod, logits(byHand, batch))).toBeLessThan(1e-6);
    // And the prefixes matter: unloading gives the base model's outputs back.
    expect(maxDiff(withMethod, logits(await hf.load(), batch))).toBeGreaterThan(1e-3);
    handle.unload();
    expect(m.module.child(PREFIX_TUNING_CHILD)).toBeUndefined();
    expect(maxDiff(logits(m, batch), logits(await hf.load(), batch))).toBe(0);
  });

  test('saves PEFT\'s PREFIX_TUNING files; the projection MLP is folded into the saved prefixes; a fresh model reproduces the outputs', async () => {
    const m = await hf.load();
    const handle = injectPrefixTuning(m, config({ num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 5 }));
    const dim = m.points!.inputEmbeddings!.dim;
    const L = m.points!.attentionPrefix!.layers;
    expect([...handle.encoder.namedParameters()].map(([p, v]) => [p, v.shape])).toEqual([
      ['embedding.weight', [4, dim]],
      ['transform.0.weight', [5, dim]],
      ['transform.0.bias', [5]],
      ['transform.2.weight', [L * 2 * dim, 5]],
      ['transform.2.bias', [L * 2 * dim]],
    ]);
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const before = logits(m, batch);
    const dir = tempDir('prefix-save');
    handle.save!(dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    expect(json).toEqual({
      ...peftPromptHeader(m, 'PREFIX_TUNING', 4),
      encoder_hidden_size: 5,
      prefix_projection: true,
      init_weights: null,
    });
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    expect([...header.tensors].map(([k, t]) => [k, t.shape])).toEqual([['prompt_embeddings', [4, L * 2 * dim]]]);
    const fresh = await hf.load();
    const loaded = loadPrefixTuning(fresh, dir);
    expect(loaded.config).toMatchObject({ num_virtual_tokens: 4, prefix_projection: true, encoder_hidden_size: 5 });
    expect([...loaded.encoder.namedParameters()].map(([p, v]) => [p, v.shape, v.requiresGrad])).toEqual([['embedding.weight', [4, L * 2 * dim], false]]);
    expect(maxDiff(logits(fresh, batch), before)).toBeLessThan(1e-5);
  });

  test('init_weights "zero" gives all-zero keys and values, with and without the projection', async () => {
    const m = await hf.load();
    for (const prefix_projection of [false, true]) {
      const handle = injectPrefixTuning(m, config({ init_weights: 'zero', prefix_projection }));
      const { key, value } = handle.encoder.layer(1);
      expect(tf.tidy(() => tf.max(tf.abs(tf.concat([key, value]))).dataSync()[0])).toBe(0);
      handle.unload();
    }
  });

  test('load refuses another model\'s files before changing the model', async () => {
    const m = await hf.load();
    const dir = tempDir('prefix-refuse');
    injectPrefixTuning(m, config()).save!(dir);
    const fresh = await hf.load();
    const attempt = patchedLoads(dir, () => loadPrefixTuning(fresh, dir));
    expect(attempt({ peft_type: 'PROMPT_TUNING' })).toThrow(/peft_type "PROMPT_TUNING" is not supported; @leantune\/plugin-prefix-tuning loads "PREFIX_TUNING"/);
    expect(attempt({ num_layers: 12 })).toThrow(/does not fit this model: num_layers 12, the model has 2/);
    expect(attempt({ num_attention_heads: 7 })).toThrow(/num_attention_heads 7, the model has \d/);
    expect(attempt({ num_virtual_tokens: 5 })).toThrow(/tensor "prompt_embeddings" has shape \[3,\d+\], the model needs \[5,\d+\]/);
    expect(fresh.module.child(PREFIX_TUNING_CHILD)).toBeUndefined();
  });
});

test('GPT-2 generates with trained prefixes: the same tokens with and without the cache, and after save → load', async () => {
  const hf = tinyHf('gpt2', 34);
  const m = await hf.load();
  const generate = (model: typeof m, cache: boolean) => model.points!.generate!(model.points!.tokenizer!.encode('the day'), { maxTokens: 6, pick: argmax, cache });
  const base = generate(m, true);
  const handle = injectPrefixTuning(m, config({ num_virtual_tokens: 4 }));
  const weight = handle.encoder.child<{ weight: tf.Variable } & import('@leantune/tensor').Module>('embedding')!.weight;
  tf.tidy(() => weight.assign(tf.mul(weight, 6)));
  const cached = generate(m, true);
  expect(generate(m, false)).toEqual(cached);
  expect(cached).not.toEqual(base);
  const dir = tempDir('prefix-gen');
  handle.save!(dir);
  const fresh = await hf.load();
  loadPrefixTuning(fresh, dir);
  expect(generate(fresh, true)).toEqual(cached);
  expect(generate(fresh, false)).toEqual(cached);
});
