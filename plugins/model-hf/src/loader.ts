import fs from 'node:fs';
import path from 'node:path';
import { TruncationTally, type Logger } from '@leantune/core';
import { ConfigReader, labelsFromConfig, readJsonFile } from './config';
import type { ArchBuild, BuildContext, HfLoadedModel } from './loader-types';
import { buildBertLike, buildGpt2, buildLlama, LLAMA_CLASS_STEMS } from './text-models';
import type { LlamaFamily } from './arch/llama';
import { buildClip, buildVit } from './vision-models';
import { loadCheckpointWeights, type WeightLoadReport } from './weights';
import { outputsFunction } from './outputs';
import { openTensorSource, SAFETENSORS_INDEX } from './shards';
import { otherFormatError } from './formats';

/** transformers' pipeline task names a model spec may give (`model.task`) to override config.json's `architectures`. */
export const HF_TASKS = ['feature-extraction', 'text-classification', 'image-classification', 'text-generation', 'zero-shot-image-classification'] as const;
export type HfTask = (typeof HF_TASKS)[number];

type Builder = (ctx: BuildContext) => ArchBuild;
interface ModelType {
  /** transformers class name → builder. */
  classes: Record<string, Builder>;
  /** The class built when config.json names none this package builds. */
  fallback: string;
  /** task → class. */
  tasks: Partial<Record<HfTask, string>>;
}

/** config.json `model_type` → the transformers classes built for it. The arch key (methods' defaultTargets) is the model_type. */
const MODEL_TYPES: Record<string, ModelType> = {
  bert: {
    classes: { BertForSequenceClassification: (ctx) => buildBertLike(ctx, false), BertModel: (ctx) => buildBertLike(ctx, false, true) },
    fallback: 'BertForSequenceClassification',
    tasks: { 'text-classification': 'BertForSequenceClassification', 'feature-extraction': 'BertModel' },
  },
  roberta: {
    classes: { RobertaForSequenceClassification: (ctx) => buildBertLike(ctx, true), RobertaModel: (ctx) => buildBertLike(ctx, true, true) },
    fallback: 'RobertaForSequenceClassification',
    tasks: { 'text-classification': 'RobertaForSequenceClassification', 'feature-extraction': 'RobertaModel' },
  },
  gpt2: {
    classes: { GPT2LMHeadModel: (ctx) => buildGpt2(ctx), GPT2Model: (ctx) => buildGpt2(ctx, true) },
    fallback: 'GPT2LMHeadModel',
    tasks: { 'text-generation': 'GPT2LMHeadModel', 'feature-extraction': 'GPT2Model' },
  },
  vit: {
    classes: { ViTForImageClassification: (ctx) => buildVit(ctx), ViTModel: (ctx) => buildVit(ctx, true) },
    fallback: 'ViTForImageClassification',
    tasks: { 'image-classification': 'ViTForImageClassification', 'feature-extraction': 'ViTModel' },
  },
  clip: {
    classes: { CLIPModel: buildClip },
    fallback: 'CLIPModel',
    tasks: { 'feature-extraction': 'CLIPModel', 'zero-shot-image-classification': 'CLIPModel' },
  },
  llama: llamaFamily('llama'),
  qwen2: llamaFamily('qwen2'),
  mistral: llamaFamily('mistral'),
};

/** LlamaForCausalLM / LlamaModel (Qwen2…, Mistral…). */
function llamaFamily(family: LlamaFamily): ModelType {
  const stem = LLAMA_CLASS_STEMS[family];
  return {
    classes: { [`${stem}ForCausalLM`]: (ctx) => buildLlama(ctx, family), [`${stem}Model`]: (ctx) => buildLlama(ctx, family, true) },
    fallback: `${stem}ForCausalLM`,
    tasks: { 'text-generation': `${stem}ForCausalLM`, 'feature-extraction': `${stem}Model` },
  };
}

export const SUPPORTED_MODEL_TYPES = Object.keys(MODEL_TYPES);

/**
 * The class to build: `task` when given, else the first class of config.json's
 * `architectures` this package builds, else the model_type's usual task model. Labels given
 * for a base-model checkpoint (e.g. ViTModel) ask for its classification model, with a fresh head.
 */
function chooseClass(type: ModelType, modelType: string, raw: Record<string, unknown>, options: LoadHfOptions, source: string, log: Logger): string {
  if (options.task !== undefined) {
    const cls = type.tasks[options.task];
    if (!cls) {
      const known = (HF_TASKS as readonly string[]).includes(options.task) ? '' : ` ("${options.task}" is not a task name)`;
      throw new Error(`model.task "${options.task}" does not fit model_type ${modelType}${known}; it takes ${Object.keys(type.tasks).join(', ')}`);
    }
    return cls;
  }
  const archs = Array.isArray(raw.architectures) ? raw.architectures.filter((a): a is string => typeof a === 'string') : [];
  const named = archs.find((a) => a in type.classes);
  if (!named && archs.length) {
    log.info(`${source}: architectures ${archs.join(', ')} is not a class leantune builds; loading it as ${type.fallback} (set model.task to choose: ${Object.keys(type.tasks).join(', ')})`);
  }
  const cls = named ?? type.fallback;
  if (options.labels?.length && /Model$/.test(cls) && cls !== 'CLIPModel') {
    const withHead = Object.keys(type.classes).find((c) => c !== cls && c.includes('Classification'));
    if (withHead) return withHead;
  }
  return cls;
}

export interface LoadHfOptions {
  /** Class names for a classification head (BERT, RoBERTa, ViT) or zero-shot prompts (CLIP). */
  labels?: string[];
  /**
   * Start a new classification head even when `labels` are as many as the checkpoint's (a
   * classifier fine-tuned on another task with as many classes, e.g. digits → clothes); by
   * default, as transformers, a head of the same size is loaded.
   */
  freshHead?: boolean;
  /** CLIP zero-shot prompt; "{}" is replaced by the label. Default "a photo of a {}.". */
  promptTemplate?: string;
  /** Cut texts to this many tokens (transformers' max_length with truncation); default the model's positions. */
  maxLength?: number;
  /** Where warnings go (fresh heads, truncated texts); default console. */
  log?: Logger;
  /** LoadedModel.name; default the folder name. */
  name?: string;
  /** Overrides config.json's `architectures`: "feature-extraction" builds the bare model (BertModel, ViTModel, GPT2Model, …). */
  task?: HfTask;
}

const consoleLogger: Logger = { info: (m) => console.info(m), warn: (m) => console.warn(m) };

function labelResolver(config: ConfigReader, specLabels: string[] | undefined, freshHead = false): BuildContext['resolveLabels'] {
  return () => {
    const fromConfig = labelsFromConfig(config);
    const checkpointCount = fromConfig?.length ?? config.positiveInt('num_labels', 2);
    if (specLabels?.length) return { labels: specLabels, headFresh: freshHead || specLabels.length !== checkpointCount };
    if (freshHead) throw new Error(`freshHead needs the new head's labels (model.labels, or a dataset with labels)`);
    return { labels: fromConfig ?? Array.from({ length: checkpointCount }, (_, i) => `LABEL_${i}`), headFresh: false };
  };
}

/**
 * Loads a Hugging Face checkpoint folder (config.json and model.safetensors or its shards;
 * tokenizer.json / preprocessor_config.json are read only when text / images are given) as
 * a LoadedModel whose parameter names are transformers' state-dict keys.
 */
export async function loadHfCheckpoint(dir: string, options: LoadHfOptions = {}): Promise<HfLoadedModel> {
  const log = options.log ?? consoleLogger;
  // A .gguf / pytorch_model.bin folder often has no config.json either: name the format first.
  if (!fs.existsSync(path.join(dir, 'model.safetensors')) && !fs.existsSync(path.join(dir, SAFETENSORS_INDEX))) {
    const other = otherFormatError(dir);
    if (other) throw other;
  }
  const configFile = path.join(dir, 'config.json');
  const raw = readJsonFile(dir, 'config.json', 'download config.json from the model page on huggingface.co into this folder');
  const modelType = raw.model_type;
  const type = typeof modelType === 'string' ? MODEL_TYPES[modelType] : undefined;
  if (!type) {
    throw new Error(
      `${configFile}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`,
    );
  }
  const className = chooseClass(type, modelType as string, raw, options, configFile, log);
  const config = new ConfigReader(raw, configFile);
  const truncation = new TruncationTally(log);
  const tensors = openTensorSource(dir);
  const built = type.classes[className]({
    truncation,
    dir,
    config,
    log,
    specLabels: options.labels,
    promptTemplate: options.promptTemplate ?? 'a photo of a {}.',
    maxLength: options.maxLength,
    resolveLabels: labelResolver(config, options.labels, options.freshHead),
    hasTensor: (name) => tensors.has(name),
  });
  let report: WeightLoadReport;
  try {
    report = loadCheckpointWeights(built.module, dir, { ...built.weights, configSummary: `model_type ${modelType}, ${built.className}, ${built.summary}` }, tensors);
  } catch (err) {
    built.module.dispose();
    throw err;
  }
  if (report.fresh.length) {
    log.warn(`${report.file}: ${report.fresh.length} parameters are newly initialised (not in the checkpoint): ${report.fresh.join(', ')}; train them before use`);
  }
  built.module.eval();
  return {
    name: options.name ?? path.basename(path.resolve(dir)),
    arch: built.arch,
    module: built.module,
    labels: built.labels,
    checkRecord: built.checkRecord,
    encode: built.encode,
    loss: built.loss,
    predict: built.predict,
    truncation: () => truncation.report(),
    freshParameters: report.fresh,
    taskType: built.taskType,
    className: built.className,
    outputNames: built.outputs.names,
    outputs: outputsFunction(`${path.basename(path.resolve(dir))} (${built.className})`, built.outputs, () => built.module.eval()),
    // Read on first use; undefined when the folder has no tokenizer.json (token ids only).
    get tokenizer() {
      return built.tokenizer?.available() ? built.tokenizer() : undefined;
    },
    maxTokens: built.maxTokens,
    points: built.points,
    meta: { ...built.meta, dir, modelType, className: built.className, weights: report },
  };
}
