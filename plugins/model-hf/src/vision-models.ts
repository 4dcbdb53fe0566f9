import type { Batch, DataRecord } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { ClipModel, clipDims } from './arch/clip';
import { VitForImageClassification, vitDims } from './arch/vit';
import { preprocessImages, readImageProcessing, type HfImage } from './images';
import type { ArchBuild, BuildContext } from './loader-types';
import { crossEntropy, labelTargets } from './records';
import { HfTokenizer } from './tokenizer';

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

/** ViT image classification: `classifier` on the [CLS] token. */
export function buildVit(ctx: BuildContext): ArchBuild {
  const dims = vitDims(ctx.config);
  const { labels, headFresh } = ctx.resolveLabels();
  const module = new VitForImageClassification(dims, labels.length);
  const proc = readImageProcessing(ctx.dir);
  const forward = (batch: Batch) => module.forward(pixelsOf(batch));
  return {
    arch: 'vit',
    module,
    labels,
    weights: { basePrefix: 'vit', optional: ['classifier.'], skip: headFresh ? ['classifier.'] : [] },
    summary: `hidden_size ${dims.hidden}, num_hidden_layers ${dims.layers}, image_size ${dims.imageSize}, patch_size ${dims.patchSize}`,
    encode: (records) => ({
      inputs: { pixel_values: preprocessImages(imagesOf(records), proc, (i) => `record ${records[i].id}`) },
      targets: labelTargets(records, labels),
      size: records.length,
    }),
    loss(batch, training) {
      module.train(training);
      if (!batch.targets) throw new Error('loss() needs labelled records; every record must have a label');
      return tf.tidy(() => crossEntropy(forward(batch), batch.targets!));
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(forward(batch)));
    },
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
  const proc = readImageProcessing(ctx.dir);
  const tokenizer = HfTokenizer.load(ctx.dir, ctx.config.nested('text_config').optionalInt('pad_token_id') ?? 0);
  const maxTokens = dims.text.maxPositions;
  const labels = ctx.specLabels;
  const tokenize = (texts: readonly string[]) => {
    const enc = tokenizer.encodeBatch(texts, maxTokens, ctx.log, ctx.truncation);
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
    const pixels = preprocessImages(images, proc, (i) => `image ${i}`);
    try {
      return module.imageFeatures(pixels);
    } finally {
      pixels.dispose();
    }
  };
  const prompts = labels?.map((l) => ctx.promptTemplate.replace('{}', l));
  const logitsPerImage = (batch: Batch) => {
    const inputs = batch.inputs as Record<string, tf.Tensor>;
    const image = module.imageFeatures(pixelsOf(batch));
    const text = inputs.input_ids ? module.textFeatures(inputs.input_ids, inputs.attention_mask) : textFeatures(prompts!);
    const out = module.logits(image, text);
    out.imageEmbeds.dispose();
    out.textEmbeds.dispose();
    return out.logitsPerImage;
  };
  return {
    arch: 'clip',
    module,
    labels,
    tokenizer,
    maxTokens,
    weights: {},
    summary: `projection_dim ${dims.projectionDim}, text hidden_size ${dims.text.hidden}, vision hidden_size ${dims.vision.hidden}`,
    encode(records): Batch {
      const pixel_values = preprocessImages(imagesOf(records), proc, (i) => `record ${records[i].id}`);
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
