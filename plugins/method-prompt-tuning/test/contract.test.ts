import { describeMethodContract } from '@leantune/testing';
import { createTrainDriver } from '@leantune/train';
import promptTuningPlugin from '../src';
import { contractReport, logits, tinyHf } from './helpers';

const onResult = contractReport();

// The tiny model has no extension points: tiny Hub-layout BERT (classifier) and GPT-2 (causal LM) do.
for (const arch of ['bert', 'gpt2'] as const) {
  const model = tinyHf(arch);
  describeMethodContract({
    plugin: promptTuningPlugin,
    method: 'prompt-tuning',
    label: `tiny ${arch}`,
    config: { num_virtual_tokens: 4, prompt_tuning_init: 'SAMPLE_VOCAB' },
    model: model.load,
    outputs: logits,
    trainer: createTrainDriver(),
    // Virtual tokens change every output; identity is tested as equivalence (TEXT init = the text in the input).
    mergeable: false,
    mergeSkipReason: 'prompts do not fold into weights (handle.notMergeable)',
    invalidConfigs: [
      { config: { num_virtual_tokens: 0 }, message: /must be >= 1/ },
      { config: { prompt_tuning_init: 'ZEROS' }, message: /must be one of "RANDOM", "SAMPLE_VOCAB", "TEXT"/ },
      // PEFT's PromptTuningConfig check: TEXT needs a text.
      { config: { prompt_tuning_init: 'TEXT' }, pointer: '/methods/prompt-tuning', message: /missing required key "prompt_tuning_init_text"/ },
      { config: { tokenizer_kwargs: { use_fast: true } }, message: /must be null/ },
      { config: { modules_to_save: ['classifier'] }, message: /must be null/ },
    ],
    onResult,
  });
}
