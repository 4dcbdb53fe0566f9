import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { Conv2d, Embedding, LayerNorm, Linear, MLP, Module, BlockStack, MultiHeadAttention, ATTENTION_NAMES, normal, tf } from '@leantune/tensor';
import { call } from '../attention';
import { joinVirtualTokens } from '../points';
import type { ConfigReader } from '../config';
import { patchify } from './vit';

/** One tower's CLIPTextConfig / CLIPVisionConfig fields, with transformers' defaults. */
export interface ClipTowerDims {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  act: string;
  eps: number;
  attentionDropout: number;
}

export interface ClipDims {
  text: ClipTowerDims & { vocabSize: number; maxPositions: number; eosTokenId: number };
  vision: ClipTowerDims & { imageSize: number; patchSize: number; channels: number };
  projectionDim: number;
  logitScaleInit: number;
}

function towerDims(config: ConfigReader, defaults: { hidden: number; layers: number; heads: number; intermediate: number }): ClipTowerDims {
  const hidden = config.positiveInt('hidden_size', defaults.hidden);
  const heads = config.positiveInt('num_attention_heads', defaults.heads);
  if (hidden % heads !== 0) throw new Error(`${config.source}: hidden_size (${hidden}) must be divisible by num_attention_heads (${heads})`);
  return {
    hidden,
    heads,
    layers: config.positiveInt('num_hidden_layers', defaults.layers),
    intermediate: config.positiveInt('intermediate_size', defaults.intermediate),
    act: config.str('hidden_act', 'quick_gelu'),
    eps: config.num('layer_norm_eps', 1e-5),
    attentionDropout: config.num('attention_dropout', 0),
  };
}

export function clipDims(config: ConfigReader): ClipDims {
  const text = config.nested('text_config');
  const vision = config.nested('vision_config');
  const imageSize = vision.positiveInt('image_size', 224);
  const patchSize = vision.positiveInt('patch_size', 32);
  if (imageSize % patchSize !== 0) throw new Error(`${vision.source}: image_size (${imageSize}) must be divisible by patch_size (${patchSize})`);
  return {
    text: {
      ...towerDims(text, { hidden: 512, layers: 12, heads: 8, intermediate: 2048 }),
      vocabSize: text.positiveInt('vocab_size', 49408),
      maxPositions: text.positiveInt('max_position_embeddings', 77),
      eosTokenId: text.int('eos_token_id', 49407),
    },
    vision: {
      ...towerDims(vision, { hidden: 768, layers: 12, heads: 12, intermediate: 3072 }),
      imageSize,
      patchSize,
      channels: vision.positiveInt('num_channels', 3),
    },
    projectionDim: config.positiveInt('projection_dim', 512),
    logitScaleInit: config.num('logit_scale_init_value', 2.6592),
  };
}

/** CLIPEncoderLayer: pre-norm, self_attn (q/k/v/out_proj) and mlp (fc1/fc2). */
class ClipEncoderLayer extends Module {
  constructor(dims: ClipTowerDims) {
    super();
    this.addModule('self_attn', new MultiHeadAttention(dims.hidden, dims.heads, { names: ATTENTION_NAMES.bart, dropout: dims.attentionDropout }));
    this.addModule('layer_norm1', new LayerNorm(dims.hidden, { eps: dims.eps }));
    this.addModule('mlp', new MLP(dims.hidden, dims.intermediate, dims.act));
    this.addModule('layer_norm2', new LayerNorm(dims.hidden, { eps: dims.eps }));
  }
  forward(h: tf.Tensor, attentionMask?: tf.Tensor, causal = false, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => {
      const a = tf.add(h, call(this, 'self_attn', call(this, 'layer_norm1', h), prefix ? { attentionMask, causal, prefix } : { attentionMask, causal }));
      return tf.add(a, call(this, 'mlp', call(this, 'layer_norm2', a)));
    });
  }
}

class ClipEncoder extends Module {
  constructor(
    private readonly dims: ClipTowerDims,
    /** The vision tower's extension points; the text tower has none here (textTokenEmbeddings). */
    private readonly points?: PointRegistry,
  ) {
    super();
    this.addModule('layers', new BlockStack(Array.from({ length: dims.layers }, () => new ClipEncoderLayer(dims))));
  }
  forward(h: tf.Tensor, attentionMask?: tf.Tensor, causal = false): tf.Tensor {
    return tf.tidy(() => {
      const stack = this.child<BlockStack>('layers')!;
      const context = attentionMask ? [attentionMask] : [];
      if (!this.points) return stack.chain(h, (layer, x, [m]) => layer.forward(x, m, causal) as tf.Tensor, context);
      const heads = { heads: this.dims.heads, headDim: this.dims.hidden / this.dims.heads };
      return this.points.runLayers(stack, h, { checkpointing: stack.gradientCheckpointing, training: this.training, heads: () => heads, context }, (layer, x, _i, prefix, [m]) => layer.forward(x, m, causal, prefix) as tf.Tensor);
    });
  }
}

class ClipTextEmbeddings extends Module {
  constructor(dims: ClipDims['text']) {
    super();
    this.addModule('token_embedding', new Embedding(dims.vocabSize, dims.hidden, { initStd: 0.02 }));
    this.addModule('position_embedding', new Embedding(dims.maxPositions, dims.hidden, { initStd: 0.01 }));
  }
  /** `words` [b, s, hidden] replaces token_embedding(ids) (transformers' inputs_embeds). */
  forward(ids: tf.Tensor, words?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const positions = tf.expandDims(tf.range(0, ids.shape[1]!, 1, 'int32'), 0);
      return tf.add(words ?? call(this, 'token_embedding', ids), call(this, 'position_embedding', positions));
    });
  }
}

/**
 * The position of each row's end-of-text token: the first `eos_token_id`, or (configs from
 * before transformers PR #24773 say eos_token_id = 2) the highest id, as transformers does.
 */
export function eosPositions(ids: tf.Tensor, eosTokenId: number): number[] {
  const [batch, seq] = ids.shape as [number, number];
  const data = ids.dataSync();
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    const row = Array.from(data.subarray(b * seq, (b + 1) * seq));
    const at = eosTokenId === 2 ? row.indexOf(Math.max(...row)) : row.indexOf(eosTokenId);
    out.push(at < 0 ? 0 : at);
  }
  return out;
}

/** CLIPTextTransformer: causal encoder, final_layer_norm, pooled at the end-of-text token. */
export class ClipTextTransformer extends Module {
  constructor(readonly dims: ClipDims['text']) {
    super();
    this.addModule('embeddings', new ClipTextEmbeddings(dims));
    this.addModule('encoder', new ClipEncoder(dims));
    this.addModule('final_layer_norm', new LayerNorm(dims.hidden, { eps: dims.eps }));
  }
  /** Pooled output [b, hidden]; `words` [b, s, hidden] replaces the token embeddings of `ids` (which still place the EOS pooling). */
  forward(ids: tf.Tensor, attentionMask?: tf.Tensor, words?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const embedded = words ? call(this, 'embeddings', ids, words) : call(this, 'embeddings', ids);
      const h = call(this, 'final_layer_norm', call(this, 'encoder', embedded, attentionMask, true));
      const pick = tf.oneHot(tf.tensor1d(eosPositions(ids, this.dims.eosTokenId), 'int32'), ids.shape[1]!);
      return tf.sum(tf.mul(h, tf.expandDims(pick, -1)), 1);
    });
  }
}

class ClipVisionEmbeddings extends Module {
  constructor(dims: ClipDims['vision']) {
    super();
    tf.tidy(() => this.addParameter('class_embedding', normal([dims.hidden], dims.hidden ** -0.5)));
    this.addModule('patch_embedding', new Conv2d(dims.channels, dims.hidden, dims.patchSize, { stride: dims.patchSize, bias: false }));
    this.addModule('position_embedding', new Embedding((dims.imageSize / dims.patchSize) ** 2 + 1, dims.hidden, { initStd: 0.02 }));
  }
  forward(pixels: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const patches = patchify(this.child('patch_embedding')!, pixels);
      const [b, , d] = patches.shape;
      const cls = tf.tile(tf.reshape(this.param('class_embedding'), [1, 1, d]), [b, 1, 1]);
      const positions = call(this, 'position_embedding', tf.range(0, patches.shape[1]! + 1, 1, 'int32'));
      return tf.add(tf.concat([cls, patches], 1), positions);
    });
  }
}

/** CLIPVisionTransformer: pre_layrnorm (sic, transformers' name), encoder, post_layernorm on [CLS]. */
export class ClipVisionTransformer extends Module {
  constructor(
    readonly dims: ClipDims['vision'],
    /** Registrations of the vision tower's extension points (model.points). */
    readonly points: PointRegistry = new PointRegistry('clip vision_model', dims.layers),
  ) {
    super();
    this.addModule('embeddings', new ClipVisionEmbeddings(dims));
    this.addModule('pre_layrnorm', new LayerNorm(dims.hidden, { eps: dims.eps }));
    this.addModule('encoder', new ClipEncoder(dims, points));
    this.addModule('post_layernorm', new LayerNorm(dims.hidden, { eps: dims.eps }));
  }
  /** Pooled output [b, hidden] from NHWC pixels; virtual tokens go after [CLS], before pre_layrnorm (VPT). */
  forward(pixels: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { h: embedded } = joinVirtualTokens(this.points, call(this, 'embeddings', pixels), undefined, 'after-cls', this.training);
      const h = call(this, 'encoder', call(this, 'pre_layrnorm', embedded));
      return call(this, 'post_layernorm', tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]));
    });
  }
}

export interface ClipOutput extends tf.TensorContainerObject {
  textEmbeds: tf.Tensor2D;
  imageEmbeds: tf.Tensor2D;
  /** [images, texts] = exp(logit_scale) · imageEmbeds · textEmbedsᵀ (both L2-normalised). */
  logitsPerImage: tf.Tensor2D;
}

/** CLIPModel: both towers, their projections (no bias) and the learned `logit_scale`. */
export class ClipModel extends Module {
  constructor(readonly dims: ClipDims) {
    super();
    this.addModule('text_model', new ClipTextTransformer(dims.text));
    this.addModule('vision_model', new ClipVisionTransformer(dims.vision));
    this.addModule('visual_projection', new Linear(dims.vision.hidden, dims.projectionDim, { bias: false }));
    this.addModule('text_projection', new Linear(dims.text.hidden, dims.projectionDim, { bias: false }));
    tf.tidy(() => this.addParameter('logit_scale', tf.scalar(dims.logitScaleInit)));
  }

  /** Unnormalised text features (transformers' get_text_features); `words` replaces the token embeddings of `ids`. */
  textFeatures(ids: tf.Tensor, attentionMask?: tf.Tensor, words?: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => {
      const pooled = words ? call(this, 'text_model', ids, attentionMask, words) : call(this, 'text_model', ids, attentionMask);
      return call(this, 'text_projection', pooled) as tf.Tensor2D;
    });
  }

  /** Unnormalised image features (transformers' get_image_features). */
  imageFeatures(pixels: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => call(this, 'visual_projection', call(this, 'vision_model', pixels)) as tf.Tensor2D);
  }

  /** Cosine similarities scaled by exp(logit_scale), from already computed features. */
  logits(imageFeatures: tf.Tensor, textFeatures: tf.Tensor): ClipOutput {
    return tf.tidy(() => {
      const unit = (x: tf.Tensor) => tf.div(x, tf.norm(x, 'euclidean', -1, true)) as tf.Tensor2D;
      const imageEmbeds = unit(imageFeatures);
      const textEmbeds = unit(textFeatures);
      const logitsPerImage = tf.mul(tf.matMul(imageEmbeds, textEmbeds, false, true), tf.exp(this.param('logit_scale'))) as tf.Tensor2D;
      return { imageEmbeds, textEmbeds, logitsPerImage };
    });
  }

  forward(pixels: tf.Tensor, ids: tf.Tensor, attentionMask?: tf.Tensor): ClipOutput {
    return tf.tidy(() => this.logits(this.imageFeatures(pixels), this.textFeatures(ids, attentionMask)));
  }
}
