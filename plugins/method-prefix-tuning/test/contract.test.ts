import { describeMethodContract } from '@leantune/testing';
import { createTrainDriver } from '@leantune/train';
import prefixTuningPlugin from '../src';
import { contractReport, logits, tinyHf } from '../../method-prompt-tuning/test/helpers';

const onResult = contractReport();

// Tiny Hub-layout BERT and GPT-2 have the attentionPrefix point (the tiny model has none).
const CASES = [
  { arch: 'bert', config: { num_virtual_tokens: 3 } },
  { arch: 'gpt2', config: { num_virtual_tokens: 3 } },
  // The MLP reparameterisation trains, then is folded into plain prefixes at save (save → load still equal).
  { arch: 'bert', config: { num_virtual_tokens: 3, prefix_projection: true, encoder_hidden_size: 6 } },
] as const;

for (const { arch, config } of CASES) {
  const model = tinyHf(arch, 31);
  describeMethodContract({
    plugin: prefixTuningPlugin,
    method: 'prefix-tuning',
    label: `tiny ${arch}${'prefix_projection' in config ? ', prefix_projection' : ''}`,
    config,
    model: model.load,
    outputs: logits,
    trainer: createTrainDriver(),
    mergeable: false,
    mergeSkipReason: 'prefixes do not fold into weights (handle.notMergeable)',
    tolerance: { saveLoad: 'prefix_projection' in config ? 1e-5 : 1e-6 },
    invalidConfigs: [
      { config: { num_virtual_tokens: 0 }, message: /must be >= 1/ },
      { config: { prefix_projection: 'yes' }, message: /must be boolean/ },
      { config: { encoder_hidden_size: 0 }, message: /must be >= 1/ },
      { config: { init_weights: 'ones' }, message: /must be one of "zero", null/ },
      { config: { modules_to_save: ['classifier'] }, message: /must be null/ },
    ],
    onResult,
  });
}
