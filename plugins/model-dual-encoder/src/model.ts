import { Linear, Module, tf } from '@leantune/tensor';
import type { MobileNetV2 } from '@leantune/plugin-mobilenet-v2';
import { USE_LITE_CONFIG, type UseLiteEncoder } from '@leantune/plugin-use-lite';

/** CLIP's initial temperature: logit_scale = ln(1 / 0.07). */
export const INITIAL_LOGIT_SCALE = Math.log(1 / 0.07);

/** Cosine similarities scaled by exp(logit_scale): [images, texts]. */
export interface DualEncoderLogits {
  logitsPerImage: tf.Tensor2D;
}

/**
 * A CLIP-shaped dual encoder over two pretrained towers:
 * - `text_model`: USE-lite; its sentence embedding (512, L2-normalised) → `text_projection`;
 * - `vision_model`: MobileNetV2's trunk; the global average pool of its last map (1280) → `visual_projection`;
 * - `logit_scale`: CLIP's learned temperature (exp of it scales the cosines).
 * Module names follow transformers' CLIPModel where it has the same part.
 */
export class DualEncoder extends Module {
  readonly projectionDim: number;

  constructor(text: UseLiteEncoder, vision: MobileNetV2, projectionDim: number) {
    super();
    this.projectionDim = projectionDim;
    // The trunk alone: the image tower's classifier has no place here.
    vision.removeModule('classifier')?.dispose();
    this.addModule('text_model', text);
    this.addModule('vision_model', vision);
    this.addModule('text_projection', new Linear(USE_LITE_CONFIG.hiddenDim, projectionDim, { bias: false }));
    this.addModule('visual_projection', new Linear(vision.plan.featureChannels, projectionDim, { bias: false }));
    this.addParameter('logit_scale', tf.scalar(INITIAL_LOGIT_SCALE));
  }

  /** Unnormalised text features [texts, projectionDim]; `words` replaces the lookup of `ids` (input embeddings). */
  textFeatures(ids: tf.Tensor, attentionMask: tf.Tensor, words?: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const text = this.child<UseLiteEncoder>('text_model')!;
      const { embedding } = text.forward(ids, tf.cast(attentionMask, 'float32'), words);
      return this.getSubmodule('text_projection').forward(embedding) as tf.Tensor2D;
    });
  }

  /** Unnormalised image features [images, projectionDim] of pixels NHWC /255. */
  imageFeatures(pixels: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const map = this.child<MobileNetV2>('vision_model')!.forwardFeatures(pixels);
      return this.getSubmodule('visual_projection').forward(tf.mean(map, [1, 2])) as tf.Tensor2D;
    });
  }

  /** exp(logit_scale) · cos(image, text) for every pair, [images, texts]. */
  logits(imageFeatures: tf.Tensor, textFeatures: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true));
      return tf.mul(tf.matMul(unit(imageFeatures), unit(textFeatures), false, true), tf.exp(this.param('logit_scale'))) as tf.Tensor2D;
    });
  }

  forward(pixels: tf.Tensor, ids: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => this.logits(this.imageFeatures(pixels), this.textFeatures(ids, attentionMask)));
  }
}
