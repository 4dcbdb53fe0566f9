/**
 * Prompt tuning on tiny Hub-layout BERT and GPT-2: TEXT init equals the text in the input
 * (exactly), PEFT's files (names, fields, shapes), save → load in a fresh model, refusals,
 * and generation with a tuned prompt (cache and no cache).
 */
import fs from 'node:fs';
import path from 'node:path';
import { notMergeableReason, type RegisteredMethod } from '@leantune/core';
import { readSafetensorsHeader, tf } from '@leantune/tensor';
import { textInitIds } from '@leantune/peft';
import { injectPromptTuning, loadPromptTuning, PROMPT_TUNING_CHILD, type PromptTuningConfig } from '../src';
import { argmax, logits, maxDiff, patchedLoads, peftPromptHeader, record, tempDir, tinyHf, withTokensFirst } from './helpers';

// The tiny checkpoints have 16 positions: virtual tokens and text share them.
const TEXTS = ['hello world', 'the good day', 'Good films!'];
const INIT_TEXT = 'the good film';

function config(partial: Partial<PromptTuningConfig>): PromptTuningConfig {
  return { num_virtual_tokens: 4, prompt_tuning_init: 'RANDOM', prompt_tuning_init_text: null, tokenizer_name_or_path: null, tokenizer_kwargs: null, modules_to_save: null, ...partial };
}

beforeAll(() => tf.setBackend('cpu'));

describe.each(['bert', 'roberta', 'gpt2'] as const)('%s', (arch) => {
  const hf = tinyHf(arch, { bert: 21, roberta: 24, gpt2: 22 }[arch]);

  test('virtual tokens initialised from a text give exactly what that text before the input gives', async () => {
    const m = await hf.load();
    const ids = m.points!.tokenizer!.encode(INIT_TEXT);
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const asText = logits(m, withTokensFirst(batch, ids));
    const handle = injectPromptTuning(m, config({ num_virtual_tokens: ids.length, prompt_tuning_init: 'text', prompt_tuning_init_text: INIT_TEXT }));
    expect(handle.config.prompt_tuning_init).toBe('TEXT');
    const virtual = logits(m, batch);
    // GPT-2 scores the real tokens only: compare with the text run's scores after the text.
    const expected = arch === 'gpt2' ? tf.slice(asText, [0, ids.length, 0], [-1, -1, -1]) : asText;
    expect(virtual.shape).toEqual(expected.shape);
    expect(maxDiff(virtual, expected)).toBeLessThan(1e-5);
    handle.unload();
    expect(m.module.child(PROMPT_TUNING_CHILD)).toBeUndefined();
    expect(maxDiff(logits(m, batch), logits(await hf.load(), batch))).toBe(0);
  });

  test('TEXT init repeats or cuts the text\'s ids to num_virtual_tokens, as PEFT', async () => {
    const m = await hf.load();
    const ids = m.points!.tokenizer!.encode(INIT_TEXT);
    for (const n of [ids.length + 3, ids.length - 2]) {
      const handle = injectPromptTuning(m, config({ num_virtual_tokens: n, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: INIT_TEXT }));
      const want = textInitIds(ids, n);
      expect(want).toHaveLength(n);
      expect(maxDiff(handle.embedding.weight, m.points!.inputEmbeddings!.vocabulary!.embed(want))).toBe(0);
      handle.unload();
    }
  });

  test('SAMPLE_VOCAB init takes rows of the embedding table; RANDOM is N(0, 1)', async () => {
    const m = await hf.load();
    const table = m.points!.inputEmbeddings!.vocabulary!.table().arraySync() as number[][];
    const sampled = injectPromptTuning(m, config({ num_virtual_tokens: 6, prompt_tuning_init: 'SAMPLE_VOCAB' }), 3);
    for (const row of sampled.embedding.weight.arraySync() as number[][]) expect(table.some((t) => t.every((v, i) => v === row[i]))).toBe(true);
    sampled.unload();
    const random = injectPromptTuning(m, config({ num_virtual_tokens: 12 }));
    const std = tf.tidy(() => tf.sqrt(tf.moments(random.embedding.weight).variance).dataSync()[0]);
    expect(std).toBeGreaterThan(0.7);
    expect(std).toBeLessThan(1.3);
    random.unload();
  });

  test('saves PEFT\'s PROMPT_TUNING files; loading them into a fresh model reproduces the outputs', async () => {
    const m = await hf.load();
    const handle = injectPromptTuning(m, config({ num_virtual_tokens: 5, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: INIT_TEXT }));
    tf.tidy(() => handle.embedding.weight.assign(tf.add(handle.embedding.weight, tf.randomNormal(handle.embedding.weight.shape, 0, 0.5, 'float32', 9))));
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const before = logits(m, batch);
    const dir = tempDir('save');
    handle.save!(dir);
    expect(fs.readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'));
    const dim = m.points!.inputEmbeddings!.dim;
    expect(json).toEqual({
      ...peftPromptHeader(m, 'PROMPT_TUNING', 5),
      prompt_tuning_init: 'TEXT',
      prompt_tuning_init_text: INIT_TEXT,
      tokenizer_name_or_path: m.name,
      tokenizer_kwargs: null,
    });
    const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
    expect([...header.tensors.keys()]).toEqual(['prompt_embeddings']);
    expect(header.tensors.get('prompt_embeddings')!.shape).toEqual([5, dim]);
    expect(header.metadata).toEqual({ format: 'pt' });

    const fresh = await hf.load();
    const loaded = loadPromptTuning(fresh, dir);
    expect(loaded.config).toMatchObject({ num_virtual_tokens: 5, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: INIT_TEXT });
    expect(maxDiff(logits(fresh, batch), before)).toBe(0);
    // Loaded as PEFT loads for inference: frozen.
    expect([...loaded.parameters.namedParameters()].map(([, p]) => p.requiresGrad)).toEqual([false]);
  });

  test('load refuses another peft_type, encoder-decoder files and a tensor of the wrong shape, before changing the model', async () => {
    const m = await hf.load();
    const dir = tempDir('refuse');
    const handle = injectPromptTuning(m, config({ num_virtual_tokens: 3 }));
    handle.save!(dir);
    const fresh = await hf.load();
    const attempt = patchedLoads(dir, () => loadPromptTuning(fresh, dir));
    expect(attempt({ peft_type: 'P_TUNING' })).toThrow(/peft_type "P_TUNING" is not supported; @leantune\/plugin-prompt-tuning loads "PROMPT_TUNING"/);
    expect(attempt({ num_transformer_submodules: 2 })).toThrow(/num_transformer_submodules 2 is not supported: 2 is for encoder-decoder/);
    expect(attempt({ token_dim: 7 })).toThrow(/token_dim 7, the model's embeddings are \d+ wide/);
    expect(attempt({ num_virtual_tokens: 4 })).toThrow(/tensor "prompt_embeddings" has shape \[3,\d+\], the model needs \[4,\d+\]/);
    expect(fresh.module.child(PROMPT_TUNING_CHILD)).toBeUndefined();
  });

  test('disable takes the prompt off the input (the base outputs), enable puts it back', async () => {
    const m = await hf.load();
    const batch = m.encode!(TEXTS.map((t, k) => record(`r${k}`, t)));
    const base = logits(m, batch);
    const handle = injectPromptTuning(m, config({ prompt_tuning_init: 'SAMPLE_VOCAB' }), 4);
    const tuned = logits(m, batch);
    expect(maxDiff(tuned, base)).toBeGreaterThan(1e-4);
    handle.disable!();
    expect(maxDiff(logits(m, batch), base)).toBe(0);
    handle.enable!();
    handle.enable!();
    expect(maxDiff(logits(m, batch), tuned)).toBe(0);
  });

  test('merge refuses with the reason', async () => {
    const m = await hf.load();
    const handle = injectPromptTuning(m, config({}));
    expect(handle.mergeAndUnload).toBeUndefined();
    const reason = notMergeableReason({ id: 'prompt-tuning', family: 'prompt' } as RegisteredMethod, handle);
    expect(reason).toMatch(/prompt method: its learned tokens join every input, and there is no weight to fold them into/);
  });
});

describe('GPT-2 generation with a tuned prompt', () => {
  const hf = tinyHf('gpt2', 23);
  const generate = (m: Awaited<ReturnType<typeof hf.load>>, ids: number[], cache: boolean) => m.points!.generate!(ids, { maxTokens: 6, pick: argmax, cache });

  test('a TEXT-initialised prompt generates what the text before the prompt generates; cache and no cache agree', async () => {
    const m = await hf.load();
    const text = m.points!.tokenizer!.encode(INIT_TEXT);
    const prompt = m.points!.tokenizer!.encode('good');
    const asText = generate(m, [...text, ...prompt], true);
    injectPromptTuning(m, config({ num_virtual_tokens: text.length, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: INIT_TEXT }));
    expect(generate(m, prompt, true)).toEqual(asText);
    expect(generate(m, prompt, false)).toEqual(asText);
  });

  test('a tuned (moved) prompt: the same tokens with and without the cache, and after save → load', async () => {
    const m = await hf.load();
    const prompt = m.points!.tokenizer!.encode('the day');
    const base = generate(m, prompt, true);
    const handle = injectPromptTuning(m, config({ num_virtual_tokens: 6, prompt_tuning_init: 'SAMPLE_VOCAB' }), 5);
    tf.tidy(() => handle.embedding.weight.assign(tf.mul(handle.embedding.weight, 40)));
    const cached = generate(m, prompt, true);
    expect(generate(m, prompt, false)).toEqual(cached);
    expect(cached).not.toEqual(base);
    const dir = tempDir('gen');
    handle.save!(dir);
    const fresh = await hf.load();
    loadPromptTuning(fresh, dir);
    expect(generate(fresh, prompt, true)).toEqual(cached);
    expect(generate(fresh, prompt, false)).toEqual(cached);
  });
});
