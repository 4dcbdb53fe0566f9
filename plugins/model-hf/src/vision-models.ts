import { stackPoints, tableVocabulary, textContextPoint, type Batch, type DataRecord } from '@leantune/core';
import { imageProblem } from '@leantune/data';
import { tf } from '@leantune/tensor';
import { ClipModel, clipDims, type ClipVisionTransformer } from './arch/clip';
import { VitForImageClassification, VitModel, vitDims } from './arch/vit';
import { call } from './attention';
import { firstToken, withHiddenStates, type ModelOutputs, type OutputsSpec } from './outputs';
import { preprocessImages, type HfImage } from './images';
import type { ArchBuild, BuildContext } from './loader-types';
import { classifierHead, crossEntropy, labelTargets } from './records';
import { exportHubFolder, tokenizerCapability } from './points';
import { lazyImageProcessing, lazyTokenizer, type Lazy } from './side-files';
import type { HfTokenizer } from './tokenizer';

function imagesOf(records: readonly DataRecord[]): HfImage[] {
  return records.map((r) => {
    if (r.image === undefined || r.image === null) throw new Error(`Record ${r.id} has no "image"; this model reads images`);
    return r.image as HfImage;
  });
}

function pixelsOf(batch: Batch): tf.Tensor {
  const pixels = (batch.inputs as Record<string, tf.Tensor>).pixel_values;
  if (!pixels) throw new Error('Batch inputs must hold pixel_values; build it with the model\'s encode()');
  return pixels;
}

/**
 * ViT: `ViTForImageClassification` (`classifier` on the [CLS] token), or with `base` the
 * bare `ViTModel`, with its pooler when the checkpoint holds `pooler.dense.*`.
 */
export function buildVit(ctx: BuildContext, base = false): ArchBuild {
  const dims = vitDims(ctx.config);
  const withPooler = base && (ctx.hasTensor('pooler.dense.weight') || ctx.hasTensor('vit.pooler.dense.weight'));
  const { labels, headFresh } = base ? { labels: undefined, headFresh: false } : ctx.resolveLabels();
  const bareModel = base ? new VitModel(dims, undefined, withPooler) : undefined;
  const module = bareModel ?? new VitForImageClassification(dims, labels!.length);
  const bare = bareModel ?? module.child<VitModel>('vit')!;
  const at = base ? '' : 'vit.';
  const proc = lazyImageProcessing(ctx.dir, 'ViT');
  const forward = (batch: Batch) => module.forward(pixelsOf(batch)) as tf.Tensor;
  const outputs: OutputsSpec = {
    names: [...(base ? [] : (['logits'] as const)), 'last_hidden_state', ...(withPooler ? (['pooler_output'] as const) : []), 'hidden_states'],
    compute: (batch, want) =>
      tf.tidy(() => {
        // hidden_states: the embeddings (virtual tokens joined) and each layer's output, before the final layernorm, as transformers.
        const { result: h, hidden } = withHiddenStates(bare.points, dims.layers, want.has('hidden_states'), () => bare.forward(pixelsOf(batch)));
        const out: ModelOutputs = { last_hidden_state: h, hidden_states: hidden };
        if (withPooler) out.pooler_output = call(bare, 'pooler', h);
        if (!base) out.logits = call(module, 'classifier', firstToken(h));
        return out as tf.TensorContainerObject as ModelOutputs;
      }),
  };
  return {
    arch: 'vit',
    className: base ? 'ViTModel' : 'ViTForImageClassification',
    taskType: base ? 'FEATURE_EXTRACTION' : null,
    module,
    labels,
    outputs,
    points: {
      ...stackPoints(bare.points, {
        embeddings: `${at}embeddings`,
        layersAt: `${at}encoder.layer`,
        layers: dims.layers,
        dim: dims.hidden,
        heads: dims.heads,
        placement: 'after-cls',
        patchFanIn: dims.channels * dims.patchSize ** 2,
      }),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: base ? { taskPrefix: 'vit' } : { basePrefix: 'vit', optional: ['classifier.'], skip: headFresh ? ['classifier.'] : [] },
    summary: `hidden_size ${dims.hidden}, num_hidden_layers ${dims.layers}, image_size ${dims.imageSize}, patch_size ${dims.patchSize}`,
    checkRecord: (record) => imageProblem(record.image),
    encode: (records) => ({
      inputs: { pixel_values: preprocessImages(imagesOf(records), proc(), (i) => `record ${records[i].id}`) },
      targets: labels ? labelTargets(records, labels) : undefined,
      size: records.length,
    }),
    ...(base ? {} : classifierHead(module, forward)),
  };
}

/**
 * CLIP. With labels: a zero-shot classifier over prompts made from them (loss and predict
 * over logits_per_image, as CoOp-style methods train it). Without: image–text pairs and
 * CLIP's symmetric contrastive loss.
 */
export function buildClip(ctx: BuildContext): ArchBuild {
  const dims = clipDims(ctx.config);
  const module = new ClipModel(dims);
  const proc = lazyImageProcessing(ctx.dir, 'CLIP');
  const tokenizer = lazyTokenizer(ctx.dir, ctx.config.nested('text_config').optionalInt('pad_token_id') ?? 0, 'CLIP');
  const maxTokens = dims.text.maxPositions;
  const labels = ctx.specLabels;
  const tokenize = (texts: readonly string[]) => {
    const enc = tokenizer().encodeBatch(texts, maxTokens, ctx.log, ctx.truncation);
    const shape: [number, number] = [texts.length, enc.ids[0].length];
    return { ids: tf.tensor2d(enc.ids, shape, 'int32'), mask: tf.tensor2d(enc.attentionMask, shape, 'int32') };
  };
  const textFeatures = (texts: readonly string[]) => {
    const { ids, mask } = tokenize(texts);
    try {
      return module.textFeatures(ids, mask);
    } finally {
      ids.dispose();
      mask.dispose();
    }
  };
  const imageFeatures = (images: readonly HfImage[]) => {
    const pixels = preprocessImages(images, proc(), (i) => `image ${i}`);
    try {
      return module.imageFeatures(pixels);
    } finally {
      pixels.dispose();
    }
  };
  const prompts = labels?.map((l) => ctx.promptTemplate.replace('{}', l));
  const textPoint = clipTextPoint(module, tokenizer, textFeatures);
  const logitsPerImage = (batch: Batch) => {
    const inputs = batch.inputs as Record<string, tf.Tensor>;
    const image = module.imageFeatures(pixelsOf(batch));
    const text = inputs.input_ids ? module.textFeatures(inputs.input_ids, inputs.attention_mask) : textPoint.labelTextFeatures(labels!, module.training, () => textFeatures(prompts!));
    const out = module.logits(image, text);
    out.imageEmbeds.dispose();
    out.textEmbeds.dispose();
    return out.logitsPerImage;
  };
  const outputs: OutputsSpec = {
    names: ['text_embeds', 'image_embeds', 'logits_per_image', 'logits_per_text', ...(labels ? (['logits'] as const) : [])],
    compute: (batch, want) =>
      tf.tidy(() => {
        const inputs = batch.inputs as Record<string, tf.Tensor>;
        const needs = (name: string, what: string) => new Error(`CLIP output "${name}" needs ${what} in the batch; encode records with ${what === 'pixel_values' ? 'images' : 'texts'}, or ask only for what the batch allows`);
        const out: ModelOutputs = {};
        const wantImage = ['image_embeds', 'logits_per_image', 'logits_per_text', 'logits'].some((n) => want.has(n as never));
        const wantText = ['text_embeds', 'logits_per_image', 'logits_per_text'].some((n) => want.has(n as never));
        const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
        if (wantImage && !inputs.pixel_values) throw needs([...want].find((n) => n !== 'text_embeds')!, 'pixel_values');
        if (wantText && !inputs.input_ids) throw needs([...want].find((n) => n !== 'image_embeds' && n !== 'logits')!, 'input_ids');
        const image = wantImage ? unit(module.imageFeatures(inputs.pixel_values)) : undefined;
        const text = wantText ? unit(module.textFeatures(inputs.input_ids, inputs.attention_mask)) : undefined;
        const scale = tf.exp(module.getParameter('logit_scale').variable);
        if (image) out.image_embeds = image;
        if (text) out.text_embeds = text;
        if (image && text) {
          out.logits_per_image = tf.mul(tf.matMul(image, text, false, true), scale);
          out.logits_per_text = tf.transpose(out.logits_per_image as tf.Tensor);
        }
        if (want.has('logits')) out.logits = logitsPerImage({ inputs: { pixel_values: inputs.pixel_values }, size: batch.size });
        return out as tf.TensorContainerObject as ModelOutputs;
      }),
  };
  return {
    arch: 'clip',
    className: 'CLIPModel',
    taskType: 'FEATURE_EXTRACTION',
    module,
    labels,
    tokenizer,
    maxTokens,
    outputs,
    weights: {},
    points: {
      ...stackPoints(module.child<ClipVisionTransformer>('vision_model')!.points, {
        embeddings: 'vision_model.embeddings',
        layersAt: 'vision_model.encoder.layers',
        layers: dims.vision.layers,
        dim: dims.vision.hidden,
        heads: dims.vision.heads,
        placement: 'after-cls',
        patchFanIn: dims.vision.channels * dims.vision.patchSize ** 2,
      }),
      textTokenEmbeddings: textPoint.point,
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    summary: `projection_dim ${dims.projectionDim}, text hidden_size ${dims.text.hidden}, vision hidden_size ${dims.vision.hidden}`,
    checkRecord: (record) => imageProblem(record.image),
    encode(records): Batch {
      const pixel_values = preprocessImages(imagesOf(records), proc(), (i) => `record ${records[i].id}`);
      if (labels) return { inputs: { pixel_values }, targets: labelTargets(records, labels), size: records.length };
      const { ids, mask } = tokenize(records.map((r) => r.text ?? ''));
      return { inputs: { pixel_values, input_ids: ids, attention_mask: mask }, size: records.length };
    },
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => {
        const logits = logitsPerImage(batch);
        if (labels) {
          if (!batch.targets) throw new Error('loss() needs labelled records; every record must have a label');
          return crossEntropy(logits, batch.targets);
        }
        // clip_loss: mean of the image→text and text→image cross-entropies, matching pairs on the diagonal.
        const diagonal = tf.range(0, logits.shape[0], 1, 'int32');
        return tf.div(tf.add(crossEntropy(logits, diagonal), crossEntropy(tf.transpose(logits), diagonal)), 2) as tf.Scalar;
      });
    },
    predict: labels
      ? (batch) => {
          module.eval();
          return tf.tidy(() => tf.softmax(logitsPerImage(batch)));
        }
      : undefined,
    meta: { textFeatures, imageFeatures },
  };
}

/**
 * CLIP's textTokenEmbeddings point (core's textContextPoint): a class prompt is tokenized as
 * CoOp does it, "X X … X <name>." → [SOS][X…][name tokens][.][EOS], and the placeholders'
 * embeddings are replaced by the n context vectors; the ids still place CLIP's EOS pooling.
 */
function clipTextPoint(module: ClipModel, lazyTok: Lazy<HfTokenizer>, encodeTexts: (texts: readonly string[]) => tf.Tensor2D) {
  const dims = module.dims.text;
  return textContextPoint({
    where: 'text_model.embeddings.token_embedding',
    dim: dims.hidden,
    vocabulary: tableVocabulary(module, 'text_model.embeddings.token_embedding.weight'),
    maxPositions: dims.maxPositions,
    get source() {
      return lazyTok().source;
    },
    get padId() {
      return lazyTok().padId;
    },
    encodeIds: (text) => lazyTok().tokenizer.encode(text).ids,
    embedIds: (ids) => module.getSubmodule('text_model.embeddings.token_embedding').forward(ids) as tf.Tensor3D,
    featuresFromEmbeds: (ids, mask, embeds) => module.textFeatures(ids, mask, embeds),
    encodeTexts,
  });
}
