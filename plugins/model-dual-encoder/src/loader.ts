import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, tableVocabulary, textContextPoint, type Batch, type DataRecord, type LoadedModel, type ModelSpec, type RunContext } from '@leantune/core';
import { imageProblem } from '@leantune/data';
import { loadSafetensors, softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';
import { createMobileNetV2, labelIndex, preprocessImages } from '@leantune/plugin-mobilenet-v2';
import { USE_LITE_CONFIG, loadPretrainedUseLite, locateUseLiteFiles, padBatch, type UseLiteTokenizer } from '@leantune/plugin-use-lite';
import { DualEncoder } from './model';
import { MODEL_NAME, parseDualEncoderSpec, type DualEncoderSpec } from './spec';

export const DUAL_ENCODER_ARCH = 'dual-encoder';

/** The parameters a dual encoder starts with fresh (not from either tower). */
export const FRESH_PARAMETERS: readonly string[] = ['text_projection.weight', 'visual_projection.weight', 'logit_scale'];

/** The model.safetensors of `weights` (a file, or a folder holding one), resolved against the config's folder. */
export function weightsFile(weights: string, configDir: string): string {
  const path = resolve(configDir, weights);
  if (!existsSync(path)) throw new ConfigError(`model.weights: ${path} does not exist; give a model.safetensors or the folder \`leantune merge\` wrote`);
  const file = statSync(path).isDirectory() ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new ConfigError(`model.weights: ${path} is a folder without model.safetensors; give the folder \`leantune merge\` wrote, or the file itself`);
  return file;
}

/** Token ids of texts for USE-lite (no special tokens), cut to its positions. */
function tokenize(tokenizer: UseLiteTokenizer, texts: readonly string[]) {
  return padBatch(texts.map((t) => tokenizer.encode(t).slice(0, USE_LITE_CONFIG.maxPositions)));
}

/** Builds the dual encoder of a spec: both pretrained towers, fresh projections, or the whole state from `weights`. */
export function createDualEncoder(spec: DualEncoderSpec, configDir: string): { module: DualEncoder; tokenizer: UseLiteTokenizer; fresh: string[]; source?: string } {
  const file = spec.weights === undefined ? undefined : weightsFile(spec.weights, configDir);
  const { encoder, tokenizer } = loadPretrainedUseLite(spec.textWeightsDir);
  let module: DualEncoder | undefined;
  try {
    const { module: vision } = createMobileNetV2({ name: 'mobilenet-v2', head: 'linear', numLabels: 1, inputSize: spec.inputSize });
    module = new DualEncoder(encoder, vision, spec.projectionDim);
    if (!file) return { module, tokenizer, fresh: [...FRESH_PARAMETERS] };
    const { tensors } = loadSafetensors(file);
    try {
      // Strict: every key and shape is checked before any value changes.
      module.loadStateDict(tensors, { strict: true, source: file });
    } catch (err) {
      throw new ConfigError(`model.weights: ${file} does not fit this dual encoder (projectionDim ${spec.projectionDim}): ${(err as Error).message}. Use the model options the weights were trained with, or weights written for this model (\`leantune merge\` of a dual-encoder run).`, { cause: err });
    } finally {
      for (const t of tensors.values()) t.dispose();
    }
    return { module, tokenizer, fresh: [], source: file };
  } catch (err) {
    if (module) module.dispose();
    else encoder.dispose();
    throw err;
  }
}

/**
 * The `dual-encoder` model. With class names (the spec's, or the dataset's): a zero-shot
 * classifier over the prompt template's class texts, its loss the cross-entropy of
 * exp(logit_scale)·cos(image, class text), as CLIP is fine-tuned and CoOp trains. Without:
 * image–text pairs (record.image, record.text) and CLIP's symmetric contrastive loss.
 */
export async function loadDualEncoder(rawSpec: ModelSpec, ctx: Partial<Pick<RunContext, 'datasetLabels' | 'configDir'>> = {}): Promise<LoadedModel> {
  const spec = parseDualEncoderSpec(rawSpec);
  const datasetLabels = spec.labels ? undefined : await ctx.datasetLabels?.();
  const labels = spec.labels ?? (datasetLabels?.length ? datasetLabels : undefined);
  const { module, tokenizer, fresh, source } = createDualEncoder(spec, ctx.configDir ?? process.cwd());
  const textFeatures = (texts: readonly string[]) =>
    tf.tidy(() => {
      const { ids, attentionMask } = tokenize(tokenizer, texts);
      return module.textFeatures(ids, attentionMask);
    });
  const prompts = labels?.map((l) => spec.promptTemplate.split('{}').join(l));
  const text = textContextPoint({
    where: 'text_model.embeddings.word_embeddings',
    dim: USE_LITE_CONFIG.embeddingDim,
    vocabulary: tableVocabulary(module, 'text_model.embeddings.word_embeddings.weight'),
    maxPositions: USE_LITE_CONFIG.maxPositions,
    source: locateUseLiteFiles(spec.textWeightsDir).vocabJson,
    padId: 0,
    encodeIds: (t) => tokenizer.encode(t),
    embedIds: (ids) => module.getSubmodule('text_model.embeddings.word_embeddings').forward(ids) as tf.Tensor3D,
    featuresFromEmbeds: (ids, mask, embeds) => module.textFeatures(ids, mask, embeds),
    encodeTexts: textFeatures,
  });
  const pixelsOf = (batch: Batch) => {
    const pixels = (batch.inputs as Record<string, tf.Tensor>)?.pixel_values;
    if (!(pixels instanceof tf.Tensor)) throw new Error(`${MODEL_NAME}: batch.inputs must hold pixel_values, as this model's encode() makes them`);
    return pixels;
  };
  const logitsPerImage = (batch: Batch) =>
    tf.tidy(() => {
      const inputs = batch.inputs as Record<string, tf.Tensor>;
      const image = module.imageFeatures(pixelsOf(batch));
      const texts = inputs.input_ids ? module.textFeatures(inputs.input_ids, inputs.attention_mask) : text.labelTextFeatures(labels!, module.training, () => textFeatures(prompts!));
      return module.logits(image, texts);
    });
  const imagesOf = (records: readonly DataRecord[]) =>
    preprocessImages(
      records.map((r) => r.image),
      spec.inputSize,
      (i) => `Record ${records[i].id} (image)`,
    );
  return {
    name: MODEL_NAME,
    arch: DUAL_ENCODER_ARCH,
    module,
    labels,
    freshParameters: fresh,
    taskType: 'FEATURE_EXTRACTION',
    checkRecord: (record) => imageProblem(record.image) ?? (labels || typeof record.text === 'string' ? undefined : 'has no "text": without class names this model trains on image–text pairs'),
    encode(records): Batch {
      if (labels) {
        const targets = records.every((r) => r.label !== undefined) ? records.map((r) => labelIndex(r, labels)) : undefined;
        return { inputs: { pixel_values: imagesOf(records) }, targets: targets && tf.tensor1d(targets, 'int32'), size: records.length };
      }
      const { ids, attentionMask } = tokenize(tokenizer, records.map((r) => r.text ?? ''));
      return { inputs: { pixel_values: imagesOf(records), input_ids: ids, attention_mask: attentionMask }, size: records.length };
    },
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => {
        const logits = logitsPerImage(batch);
        if (labels) {
          if (!batch.targets) throw new Error(`${MODEL_NAME}: loss needs labelled records; every record must have a label`);
          return softmaxCrossEntropyWithLabels(logits, batch.targets);
        }
        // CLIP's loss: image→text and text→image cross-entropies, the matching pair on the diagonal.
        const diagonal = tf.range(0, logits.shape[0], 1, 'int32');
        return tf.div(tf.add(softmaxCrossEntropyWithLabels(logits, diagonal), softmaxCrossEntropyWithLabels(tf.transpose(logits), diagonal)), 2) as tf.Scalar;
      });
    },
    predict: labels
      ? (batch) => {
          module.eval();
          return tf.tidy(() => tf.softmax(logitsPerImage(batch)));
        }
      : undefined,
    points: {
      textTokenEmbeddings: text.point,
      tokenizer: { encode: (t) => tokenizer.encode(t), decode: (ids) => tokenizer.decode(ids), files: [locateUseLiteFiles(spec.textWeightsDir).vocabJson] },
    },
    meta: { projectionDim: spec.projectionDim, inputSize: spec.inputSize, promptTemplate: spec.promptTemplate, weights: source ?? 'fresh projections over USE-lite and MobileNetV2 (nsfwjs)', textFeatures },
  };
}
