/**
 * The three prompt methods on USE-lite's real pretrained weights (its layers differ in width:
 * 256 then 512): inject, predict, save → load into a fresh model gives the same predictions;
 * prefix tuning lays the two layers out in turn (2·256 + 2·512 per row).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LoadedModel } from '@leantune/core';
import { readSafetensorsHeader, tf } from '@leantune/tensor';
import { createUseLiteModel, loadPretrainedUseLite } from '@leantune/plugin-use-lite';
import { injectPrefixTuning, loadPrefixTuning } from '@leantune/plugin-prefix-tuning';
import { injectPTuning, loadPTuning } from '@leantune/plugin-p-tuning';
import { injectPromptTuning, loadPromptTuning } from '../src';
import { maxDiff, record, tempDir } from './helpers';

const quiet = { info: () => undefined, warn: () => undefined };
const pretrained = loadPretrainedUseLite();
const fresh = (): LoadedModel => createUseLiteModel(pretrained.encoder, pretrained.tokenizer, { head: 'classification', labels: ['ham', 'spam'], maxLength: 64, log: quiet, tokenizerFiles: ['vocab.json'] });
afterAll(() => pretrained.encoder.dispose());
beforeAll(() => tf.setBackend('cpu'));

const TEXTS = ['Win a free cruise now, click here', 'Meeting moved to 3pm, see agenda attached'];

const CASES = [
  {
    method: 'prompt-tuning',
    inject: (m: LoadedModel) => injectPromptTuning(m, { num_virtual_tokens: 8, prompt_tuning_init: 'TEXT', prompt_tuning_init_text: 'Classify if the email is spam:', tokenizer_name_or_path: null, tokenizer_kwargs: null, modules_to_save: null }),
    load: loadPromptTuning,
    width: 256,
  },
  {
    method: 'prefix-tuning',
    inject: (m: LoadedModel) => injectPrefixTuning(m, { num_virtual_tokens: 5, prefix_projection: true, encoder_hidden_size: 32, init_weights: null, modules_to_save: null }),
    load: loadPrefixTuning,
    width: 2 * 256 + 2 * 512,
  },
  {
    method: 'p-tuning',
    inject: (m: LoadedModel) => injectPTuning(m, { num_virtual_tokens: 6, encoder_reparameterization_type: 'LSTM', encoder_hidden_size: 32, encoder_num_layers: 1, encoder_dropout: 0, modules_to_save: null }),
    load: loadPTuning,
    width: 256,
  },
] as const;

// One model (the encoder's points are per encoder, and each createUseLiteModel draws a new head):
// unload gives the base back exactly, and loading the saved files onto it gives the tuned outputs.
test.each(CASES)('$method: changes the predictions; unload restores them; the saved files load back to the same predictions', ({ inject, load, width }) => {
  const m = fresh();
  const batch = m.encode!(TEXTS.map((t, i) => record(`r${i}`, t)));
  const before = m.predict!(batch);
  const handle = inject(m);
  const tuned = m.predict!(batch);
  expect(maxDiff(tuned, before)).toBeGreaterThan(1e-4);
  const dir = tempDir('use-lite');
  handle.save!(dir);
  const header = readSafetensorsHeader(path.join(dir, 'adapter_model.safetensors'));
  expect(header.tensors.get('prompt_embeddings')!.shape[1]).toBe(width);
  expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'))).toMatchObject({ token_dim: 256, num_layers: 2, base_model_name_or_path: m.name });
  handle.unload!();
  expect(maxDiff(m.predict!(batch), before)).toBe(0);
  const loaded = load(m, dir);
  expect(maxDiff(m.predict!(batch), tuned)).toBeLessThan(1e-5);
  loaded.unload!();
});
