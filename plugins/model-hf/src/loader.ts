import path from 'node:path';
import { TruncationTally, type Logger } from '@leantune/core';
import { ConfigReader, labelsFromConfig, readJsonFile } from './config';
import type { ArchBuild, BuildContext, HfLoadedModel } from './loader-types';
import { buildBertLike, buildGpt2 } from './text-models';
import { buildClip, buildVit } from './vision-models';
import { loadCheckpointWeights, type WeightLoadReport } from './weights';

/** config.json `model_type` → builder. The arch key (methods' defaultTargets) is the model_type. */
const ARCHITECTURES: Record<string, (ctx: BuildContext) => ArchBuild> = {
  bert: (ctx) => buildBertLike(ctx, false),
  roberta: (ctx) => buildBertLike(ctx, true),
  gpt2: buildGpt2,
  vit: buildVit,
  clip: buildClip,
};

export const SUPPORTED_MODEL_TYPES = Object.keys(ARCHITECTURES);

export interface LoadHfOptions {
  /** Class names for a classification head (BERT, RoBERTa, ViT) or zero-shot prompts (CLIP). */
  labels?: string[];
  /** CLIP zero-shot prompt; "{}" is replaced by the label. Default "a photo of a {}.". */
  promptTemplate?: string;
  /** Cut texts to this many tokens (transformers' max_length with truncation); default the model's positions. */
  maxLength?: number;
  /** Where warnings go (fresh heads, truncated texts); default console. */
  log?: Logger;
  /** LoadedModel.name; default the folder name. */
  name?: string;
}

const consoleLogger: Logger = { info: (m) => console.info(m), warn: (m) => console.warn(m) };

function labelResolver(config: ConfigReader, specLabels: string[] | undefined): BuildContext['resolveLabels'] {
  return () => {
    const fromConfig = labelsFromConfig(config);
    const checkpointCount = fromConfig?.length ?? config.positiveInt('num_labels', 2);
    if (specLabels?.length) return { labels: specLabels, headFresh: specLabels.length !== checkpointCount };
    return { labels: fromConfig ?? Array.from({ length: checkpointCount }, (_, i) => `LABEL_${i}`), headFresh: false };
  };
}

/** PEFT's task_type per architecture, as its adapter_config.json records it; image classifiers have none. */
const PEFT_TASK_TYPES: Record<string, string> = { bert: 'SEQ_CLS', roberta: 'SEQ_CLS', gpt2: 'CAUSAL_LM', clip: 'FEATURE_EXTRACTION' };

/**
 * Loads a Hugging Face checkpoint folder (config.json and model.safetensors or its shards;
 * tokenizer.json / preprocessor_config.json are read only when text / images are given) as
 * a LoadedModel whose parameter names are transformers' state-dict keys.
 */
export async function loadHfCheckpoint(dir: string, options: LoadHfOptions = {}): Promise<HfLoadedModel> {
  const log = options.log ?? consoleLogger;
  const configFile = path.join(dir, 'config.json');
  const raw = readJsonFile(dir, 'config.json', 'download config.json from the model page on huggingface.co into this folder');
  const modelType = raw.model_type;
  const build = typeof modelType === 'string' ? ARCHITECTURES[modelType] : undefined;
  if (!build) {
    throw new Error(
      `${configFile}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}`,
    );
  }
  const config = new ConfigReader(raw, configFile);
  const truncation = new TruncationTally(log);
  const built = build({
    truncation,
    dir,
    config,
    log,
    specLabels: options.labels,
    promptTemplate: options.promptTemplate ?? 'a photo of a {}.',
    maxLength: options.maxLength,
    resolveLabels: labelResolver(config, options.labels),
  });
  let report: WeightLoadReport;
  try {
    report = loadCheckpointWeights(built.module, dir, { ...built.weights, configSummary: `model_type ${modelType}, ${built.summary}` });
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
    encode: built.encode,
    loss: built.loss,
    predict: built.predict,
    truncation: () => truncation.report(),
    freshParameters: report.fresh,
    taskType: PEFT_TASK_TYPES[built.arch] ?? null,
    // Read on first use; undefined when the folder has no tokenizer.json (token ids only).
    get tokenizer() {
      return built.tokenizer?.available() ? built.tokenizer() : undefined;
    },
    maxTokens: built.maxTokens,
    points: built.points,
    meta: { ...built.meta, dir, modelType, weights: report },
  };
}
