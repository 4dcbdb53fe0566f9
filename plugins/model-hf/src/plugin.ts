import fs from 'node:fs';
import path from 'node:path';
import { definePlugin, type ModelSpec } from '@leantune/core';
import { HF_TASKS, loadHfCheckpoint, SUPPORTED_MODEL_TYPES, type HfTask } from './loader';
import { chatPackStage } from './chat';
import { pullCommand } from './pull-command';

const PLUGIN_NAME = '@leantune/plugin-hf';

/** The checkpoint folder a spec names: `{ name: 'hf', path }` or `{ name: '<folder with config.json>' }`. */
export function checkpointDir(spec: ModelSpec): string | undefined {
  if (spec.name === 'hf') return typeof spec.path === 'string' ? spec.path : undefined;
  return fs.existsSync(path.join(spec.name, 'config.json')) ? spec.name : undefined;
}

function stringArray(value: unknown, key: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw new Error(`model.${key} must be a list of strings, got ${JSON.stringify(value)}`);
  }
  return value as string[];
}

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Hugging Face checkpoint folders: BERT, RoBERTa, GPT-2, ViT, CLIP' },
  apply(ctx) {
    ctx.models.register({
      name: 'hf',
      description: `Hugging Face checkpoint folder (config.json + model.safetensors); model_type ${SUPPORTED_MODEL_TYPES.join(', ')}`,
      models: ['hf'],
      test: (spec) => checkpointDir(spec) !== undefined,
      // Checked in the config's second validation pass, before anything loads.
      optionsSchema: {
        type: 'object',
        additionalProperties: false,
        properties: {
          path: { type: 'string', minLength: 1, description: 'the checkpoint folder (with name "hf"), relative to the config file' },
          labels: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, description: 'class names of the classification head (BERT, RoBERTa, ViT; a count unlike the checkpoint\'s makes a new head) or CLIP\'s zero-shot labels; default: the checkpoint\'s id2label, or with freshHead the dataset\'s' },
          freshHead: { type: 'boolean', description: 'a new classification head (labels: model.labels, else the dataset\'s) even when they are as many as the checkpoint\'s (another task with as many classes); default: a head of the same size is loaded, as transformers does' },
          promptTemplate: { type: 'string', description: 'CLIP zero-shot prompt; "{}" stands for the label' },
          maxLength: { type: 'integer', minimum: 1, maximum: 1048576, description: 'tokens kept per text' },
          task: {
            enum: [...HF_TASKS],
            description: 'overrides config.json\'s architectures: feature-extraction builds the bare model (BertModel, RobertaModel, ViTModel, GPT2Model); text-classification, image-classification, text-generation the task model',
          },
        },
      },
      load: async (spec, run) => {
        const dir = checkpointDir(spec);
        if (!dir) throw new Error(`model "${spec.name}": give the checkpoint folder as { "name": "hf", "path": "<folder>" }`);
        const promptTemplate = spec.promptTemplate;
        if (promptTemplate !== undefined && typeof promptTemplate !== 'string') throw new Error('model.promptTemplate must be a string');
        const maxLength = spec.maxLength;
        if (maxLength !== undefined && !(Number.isInteger(maxLength) && (maxLength as number) > 0)) throw new Error(`model.maxLength must be a positive integer (tokens per text), got ${JSON.stringify(maxLength)}`);
        const task = spec.task;
        if (task !== undefined && !(HF_TASKS as readonly unknown[]).includes(task)) throw new Error(`model.task must be one of ${HF_TASKS.join(', ')}, got ${JSON.stringify(task)}`);
        // "path" is relative to the config file, like every other path in a config.
        const resolved = spec.name === 'hf' && run.configDir ? path.resolve(run.configDir, dir) : path.resolve(dir);
        return loadHfCheckpoint(resolved, {
          // A fresh head takes the dataset's class names when the spec gives none (a head loaded
          // from the checkpoint keeps the checkpoint's names and order unless the spec names them).
          labels: stringArray(spec.labels, 'labels') ?? (spec.freshHead === true ? await run.datasetLabels?.() : undefined),
          freshHead: spec.freshHead === true,
          promptTemplate,
          maxLength: maxLength as number | undefined,
          log: run.log,
          task: task as HfTask | undefined,
        });
      },
    });
    ctx.stages.register(chatPackStage);
    ctx.commands.register(pullCommand);
  },
});
