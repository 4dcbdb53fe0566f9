import { describeMethodContract, formatParameterCounts, standaloneFiles, type CheckResult } from '@leantune/testing';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import loraPlugin, { loadAdapter, LoraModel, saveAdapter } from '../src';

const results: CheckResult[] = [];

beforeAll(() => tf.setBackend('cpu'));
afterAll(() => {
  for (const r of results) if (r.check === 'trainable') process.stdout.write(`${formatParameterCounts(r)}\n`);
});

// LoRA on the tiny classifier's default target (encoder.dense), saved and loaded as PEFT
// files into a bare base model, as `PeftModel.from_pretrained` would, through the standalone
// saveAdapter/loadAdapter (the second contract takes the default: handle.save, then method.load).
describeMethodContract({
  plugin: loraPlugin,
  method: 'lora',
  config: { r: 4, lora_alpha: 8 },
  trainer: createTrainDriver(),
  identityAtInit: true,
  mergeable: true,
  saveLoad: standaloneFiles(LoraModel, saveAdapter, loadAdapter),
  invalidConfigs: [
    { config: { r: 0 }, message: /must be >= 1/ },
    { config: { lora_alpha: 0 }, message: /must be > 0/ },
    { config: { bias: 'all' }, message: /must be one of "none"/ },
    { config: { init_lora_weights: 'olora' } },
    { config: { lora_dropout: 1 }, message: /must be < 1/ },
  ],
  onResult: (r) => void results.push(r),
});

// modules_to_save: the trained copy of the classifier joins the trainable set and the files.
describeMethodContract({
  plugin: loraPlugin,
  method: 'lora',
  config: { r: 2, lora_alpha: 4, modules_to_save: ['classifier'] },
  trainer: createTrainDriver(),
  identityAtInit: true,
  mergeable: true,
  onResult: (r) => void results.push(r),
});
