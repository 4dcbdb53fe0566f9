import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { Conv2d, Dropout, LayerNorm, Linear, Module, BlockStack, activationFn, normal, tf } from '@leantune/tensor';
import { call, scaledDotProductAttention } from '../attention';
import { joinVirtualTokens } from '../points';
import type { ConfigReader } from '../config';

/** ViTConfig fields, with transformers' defaults. */
export interface VitDims {
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  act: string;
  eps: number;
  imageSize: number;
  patchSize: number;
  channels: number;
  qkvBias: boolean;
  hiddenDropout: number;
  attentionDropout: number;
}

export function vitDims(config: ConfigReader): VitDims {
  const hidden = config.positiveInt('hidden_size', 768);
  const heads = config.positiveInt('num_attention_heads', 12);
  if (hidden % heads !== 0) throw new Error(`${config.source}: hidden_size (${hidden}) must be divisible by num_attention_heads (${heads})`);
  const imageSize = config.positiveInt('image_size', 224);
  const patchSize = config.positiveInt('patch_size', 16);
  if (imageSize % patchSize !== 0) throw new Error(`${config.source}: image_size (${imageSize}) must be divisible by patch_size (${patchSize})`);
  return {
    hidden,
    layers: config.positiveInt('num_hidden_layers', 12),
    heads,
    intermediate: config.positiveInt('intermediate_size', 3072),
    act: config.str('hidden_act', 'gelu'),
    eps: config.num('layer_norm_eps', 1e-12),
    imageSize,
    patchSize,
    channels: config.positiveInt('num_channels', 3),
    qkvBias: config.bool('qkv_bias', true),
    hiddenDropout: config.num('hidden_dropout_prob', 0),
    attentionDropout: config.num('attention_probs_dropout_prob', 0),
  };
}

/** Non-overlapping patches as a strided conv, flattened row-major like transformers' flatten(2). */
export function patchify(conv: Module, pixels: tf.Tensor): tf.Tensor3D {
  return tf.tidy(() => {
    const y = conv.forward(pixels) as tf.Tensor4D;
    const [b, gh, gw, d] = y.shape;
    return tf.reshape(y, [b, gh * gw, d]) as tf.Tensor3D;
  });
}

class VitPatchEmbeddings extends Module {
  constructor(dims: VitDims) {
    super();
    this.addModule('projection', new Conv2d(dims.channels, dims.hidden, dims.patchSize, { stride: dims.patchSize }));
  }
  forward(pixels: tf.Tensor): tf.Tensor {
    return patchify(this.child('projection')!, pixels);
  }
}

/** ViTEmbeddings: [cls_token; patches] + position_embeddings (both raw parameters). */
class VitEmbeddings extends Module {
  constructor(private readonly dims: VitDims) {
    super();
    const patches = (dims.imageSize / dims.patchSize) ** 2;
    tf.tidy(() => {
      this.addParameter('cls_token', normal([1, 1, dims.hidden], 0.02));
      this.addParameter('position_embeddings', normal([1, patches + 1, dims.hidden], 0.02));
    });
    this.addModule('patch_embeddings', new VitPatchEmbeddings(dims));
    this.addModule('dropout', new Dropout(dims.hiddenDropout));
  }
  forward(pixels: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const patches = call(this, 'patch_embeddings', pixels);
      const cls = tf.tile(this.param('cls_token'), [patches.shape[0]!, 1, 1]);
      return call(this, 'dropout', tf.add(tf.concat([cls, patches], 1), this.param('position_embeddings')));
    });
  }
}

class VitSelfAttention extends Module {
  constructor(private readonly dims: VitDims) {
    super();
    for (const n of ['query', 'key', 'value']) this.addModule(n, new Linear(dims.hidden, dims.hidden, { bias: dims.qkvBias }));
    this.addModule('dropout', new Dropout(dims.attentionDropout));
  }
  forward(h: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return scaledDotProductAttention(call(this, 'query', h), call(this, 'key', h), call(this, 'value', h), {
      numHeads: this.dims.heads,
      prefix,
      dropout: this.child<Dropout>('dropout'),
    });
  }
}

/** dense → dropout; the residual is added by the layer (ViTSelfOutput) or here (ViTOutput). */
class VitDenseOutput extends Module {
  constructor(inFeatures: number, dims: VitDims, private readonly addResidual: boolean) {
    super();
    this.addModule('dense', new Linear(inFeatures, dims.hidden));
    this.addModule('dropout', new Dropout(dims.hiddenDropout));
  }
  forward(x: tf.Tensor, residual?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const y = call(this, 'dropout', call(this, 'dense', x));
      return this.addResidual && residual ? tf.add(y, residual) : y;
    });
  }
}

class VitAttention extends Module {
  constructor(dims: VitDims) {
    super();
    this.addModule('attention', new VitSelfAttention(dims));
    this.addModule('output', new VitDenseOutput(dims.hidden, dims, false));
  }
  forward(h: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => call(this, 'output', call(this, 'attention', h, prefix)));
  }
}

class VitIntermediate extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(dims: VitDims) {
    super();
    this.act = activationFn(dims.act);
    this.addModule('dense', new Linear(dims.hidden, dims.intermediate));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.act(call(this, 'dense', h)));
  }
}

/** Pre-norm: h + attention(layernorm_before(h)), then output(intermediate(layernorm_after(·))) + residual. */
class VitLayer extends Module {
  constructor(dims: VitDims) {
    super();
    this.addModule('attention', new VitAttention(dims));
    this.addModule('intermediate', new VitIntermediate(dims));
    this.addModule('output', new VitDenseOutput(dims.intermediate, dims, true));
    this.addModule('layernorm_before', new LayerNorm(dims.hidden, { eps: dims.eps }));
    this.addModule('layernorm_after', new LayerNorm(dims.hidden, { eps: dims.eps }));
  }
  forward(h: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => {
      const a = tf.add(call(this, 'attention', call(this, 'layernorm_before', h), prefix), h);
      return call(this, 'output', call(this, 'intermediate', call(this, 'layernorm_after', a)), a);
    });
  }
}

class VitEncoder extends Module {
  constructor(
    private readonly dims: VitDims,
    private readonly points: PointRegistry,
  ) {
    super();
    this.addModule('layer', new BlockStack(Array.from({ length: dims.layers }, () => new VitLayer(dims))));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const stack = this.child<BlockStack>('layer')!;
      const heads = { heads: this.dims.heads, headDim: this.dims.hidden / this.dims.heads };
      return this.points.runLayers(stack, h, { checkpointing: stack.gradientCheckpointing, training: this.training, heads: () => heads }, (layer, x, _i, prefix) => layer.forward(x, prefix) as tf.Tensor);
    });
  }
}

/** ViTPooler: tanh(dense(first token)) (pooler_act "tanh", pooler_output_size = hidden_size). */
class VitPooler extends Module {
  constructor(dims: VitDims) {
    super();
    this.addModule('dense', new Linear(dims.hidden, dims.hidden));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.tanh(call(this, 'dense', tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]))));
  }
}

/**
 * ViTModel; without pooler as ViTForImageClassification builds it (add_pooling_layer=False),
 * with `pooler` as a bare ViTModel checkpoint that holds pooler.dense.* has it.
 */
export class VitModel extends Module {
  constructor(
    readonly dims: VitDims,
    /** Registrations of this model's extension points (model.points). */
    readonly points: PointRegistry = new PointRegistry('vit', dims.layers),
    withPooler = false,
  ) {
    super();
    this.addModule('embeddings', new VitEmbeddings(dims));
    this.addModule('encoder', new VitEncoder(dims, points));
    this.addModule('layernorm', new LayerNorm(dims.hidden, { eps: dims.eps }));
    if (withPooler) this.addModule('pooler', new VitPooler(dims));
  }
  /** NHWC pixels [b, H, W, C] → last hidden state [b, 1 + n + patches, hidden], n virtual tokens after [CLS] (VPT). */
  forward(pixels: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const { h } = joinVirtualTokens(this.points, call(this, 'embeddings', pixels), undefined, 'after-cls', this.training);
      return call(this, 'layernorm', call(this, 'encoder', h));
    });
  }
}

/** ViTForImageClassification: `classifier` on the [CLS] token of the final layernorm. */
export class VitForImageClassification extends Module {
  constructor(readonly dims: VitDims, numLabels: number) {
    super();
    this.addModule('vit', new VitModel(dims));
    this.addModule('classifier', new Linear(dims.hidden, numLabels));
  }
  forward(pixels: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = call(this, 'vit', pixels);
      return call(this, 'classifier', tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]));
    });
  }
}
