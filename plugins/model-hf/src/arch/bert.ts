import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { Dropout, Embedding, LayerNorm, Linear, Module, BlockStack, activationFn, tf } from '@leantune/tensor';
import { call, paddingMask, scaledDotProductAttention } from '../attention';
import type { ConfigReader } from '../config';

/** The fields of BertConfig / RobertaConfig this code reads, with transformers' defaults. */
export interface BertDims {
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  intermediate: number;
  act: string;
  maxPositions: number;
  typeVocab: number;
  eps: number;
  hiddenDropout: number;
  attentionDropout: number;
  classifierDropout: number;
  /** RoBERTa only: position ids start after padding_idx (= pad_token_id). */
  paddingIdx?: number;
}

export function bertDims(config: ConfigReader, roberta: boolean): BertDims {
  const embeddingType = config.str('position_embedding_type', 'absolute');
  if (embeddingType !== 'absolute') {
    throw new Error(`${config.source}: position_embedding_type "${embeddingType}" is not supported; only "absolute" is`);
  }
  const hidden = config.positiveInt('hidden_size', 768);
  const heads = config.positiveInt('num_attention_heads', 12);
  if (hidden % heads !== 0) throw new Error(`${config.source}: hidden_size (${hidden}) must be divisible by num_attention_heads (${heads})`);
  const hiddenDropout = config.num('hidden_dropout_prob', 0.1);
  return {
    vocabSize: config.positiveInt('vocab_size', roberta ? 50265 : 30522),
    hidden,
    layers: config.positiveInt('num_hidden_layers', 12),
    heads,
    intermediate: config.positiveInt('intermediate_size', 3072),
    act: config.str('hidden_act', 'gelu'),
    maxPositions: config.positiveInt('max_position_embeddings', 512),
    typeVocab: config.positiveInt('type_vocab_size', 2),
    eps: config.num('layer_norm_eps', 1e-12),
    hiddenDropout,
    attentionDropout: config.num('attention_probs_dropout_prob', 0.1),
    classifierDropout: config.raw.classifier_dropout == null ? hiddenDropout : config.num('classifier_dropout', hiddenDropout),
    paddingIdx: roberta ? config.int('pad_token_id', 1) : undefined,
  };
}

/** Tokens a sequence may hold: RoBERTa loses padding_idx + 1 positions to its offset. */
export function bertMaxTokens(dims: BertDims): number {
  return dims.paddingIdx === undefined ? dims.maxPositions : dims.maxPositions - dims.paddingIdx - 1;
}

class BertEmbeddings extends Module {
  constructor(private readonly dims: BertDims) {
    super();
    this.addModule('word_embeddings', new Embedding(dims.vocabSize, dims.hidden, { initStd: 0.02 }));
    this.addModule('position_embeddings', new Embedding(dims.maxPositions, dims.hidden, { initStd: 0.02 }));
    this.addModule('token_type_embeddings', new Embedding(dims.typeVocab, dims.hidden, { initStd: 0.02 }));
    this.addModule('LayerNorm', new LayerNorm(dims.hidden, { eps: dims.eps }));
    this.addModule('dropout', new Dropout(dims.hiddenDropout));
  }

  /**
   * BERT counts 0..s-1; RoBERTa counts non-pad tokens from padding_idx + 1, pads keep
   * padding_idx. `virtual` tokens before the ids count as tokens (positions of the full length).
   */
  private positionIds(ids: tf.Tensor, virtual = 0): tf.Tensor {
    const [batch, seq] = ids.shape;
    const pad = this.dims.paddingIdx;
    if (pad === undefined) return tf.tile(tf.expandDims(tf.range(0, seq + virtual, 1, 'int32'), 0), [batch, 1]);
    const keep = tf.cast(tf.notEqual(ids, pad), 'int32');
    // cumsum returns float32 even for int32 input in tfjs; positions must be int32 ids.
    const real = tf.cast(tf.add(tf.mul(tf.add(tf.cast(tf.cumsum(keep, 1), 'int32'), virtual), keep), pad), 'int32');
    if (!virtual) return real;
    return tf.concat([tf.tile(tf.expandDims(tf.range(pad + 1, pad + 1 + virtual, 1, 'int32'), 0), [batch, 1]), real], 1);
  }

  /** `virtual` [b, n, hidden] stands in for the word embeddings of n tokens before `ids` (token type 0). */
  forward(ids: tf.Tensor, tokenTypeIds?: tf.Tensor, virtual?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let types = tokenTypeIds ?? tf.zerosLike(ids);
      let words = call(this, 'word_embeddings', ids);
      const n = virtual?.shape[1] ?? 0;
      if (virtual) {
        words = tf.concat([virtual, words], 1);
        types = tf.concat([tf.zeros([ids.shape[0], n], types.dtype), types], 1);
      }
      const limit = this.dims.maxPositions - (this.dims.paddingIdx === undefined ? 0 : this.dims.paddingIdx + 1);
      if (n + ids.shape[1]! > limit) {
        throw new Error(`${n ? `${n} virtual tokens + ` : ''}${ids.shape[1]} tokens exceed the ${limit} positions of max_position_embeddings ${this.dims.maxPositions}; shorten the input (model.maxLength) or the prompt`);
      }
      let h = tf.add(words, call(this, 'token_type_embeddings', types));
      h = tf.add(h, call(this, 'position_embeddings', this.positionIds(ids, n)));
      return call(this, 'dropout', call(this, 'LayerNorm', h));
    });
  }
}

class BertSelfAttention extends Module {
  constructor(private readonly dims: BertDims) {
    super();
    for (const name of ['query', 'key', 'value']) this.addModule(name, new Linear(dims.hidden, dims.hidden));
    this.addModule('dropout', new Dropout(dims.attentionDropout));
  }
  forward(h: tf.Tensor, mask: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return scaledDotProductAttention(call(this, 'query', h), call(this, 'key', h), call(this, 'value', h), {
      numHeads: this.dims.heads,
      mask,
      prefix,
      dropout: this.child<Dropout>('dropout'),
    });
  }
}

/** dense → dropout → LayerNorm(x + residual): BertSelfOutput and BertOutput alike. */
class BertResidualOutput extends Module {
  constructor(inFeatures: number, dims: BertDims) {
    super();
    this.addModule('dense', new Linear(inFeatures, dims.hidden));
    this.addModule('LayerNorm', new LayerNorm(dims.hidden, { eps: dims.eps }));
    this.addModule('dropout', new Dropout(dims.hiddenDropout));
  }
  forward(x: tf.Tensor, residual: tf.Tensor): tf.Tensor {
    return tf.tidy(() => call(this, 'LayerNorm', tf.add(call(this, 'dropout', call(this, 'dense', x)), residual)));
  }
}

class BertAttention extends Module {
  constructor(dims: BertDims) {
    super();
    this.addModule('self', new BertSelfAttention(dims));
    this.addModule('output', new BertResidualOutput(dims.hidden, dims));
  }
  forward(h: tf.Tensor, mask: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => call(this, 'output', call(this, 'self', h, mask, prefix), h));
  }
}

class BertIntermediate extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(dims: BertDims) {
    super();
    this.act = activationFn(dims.act);
    this.addModule('dense', new Linear(dims.hidden, dims.intermediate));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.act(call(this, 'dense', h)));
  }
}

class BertLayer extends Module {
  constructor(dims: BertDims) {
    super();
    this.addModule('attention', new BertAttention(dims));
    this.addModule('intermediate', new BertIntermediate(dims));
    this.addModule('output', new BertResidualOutput(dims.intermediate, dims));
  }
  forward(h: tf.Tensor, mask: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => {
      const attended = call(this, 'attention', h, mask, prefix);
      return call(this, 'output', call(this, 'intermediate', attended), attended);
    });
  }
}

class BertEncoder extends Module {
  constructor(
    private readonly dims: BertDims,
    private readonly points: PointRegistry,
  ) {
    super();
    this.addModule('layer', new BlockStack(Array.from({ length: dims.layers }, () => new BertLayer(dims))));
  }
  forward(h: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const stack = this.child<BlockStack>('layer')!;
      const heads = { heads: this.dims.heads, headDim: this.dims.hidden / this.dims.heads };
      return this.points.runLayers(stack, h, { checkpointing: stack.gradientCheckpointing, training: this.training, heads: () => heads, context: [mask] }, (layer, x, _i, prefix, [m]) => layer.forward(x, m, prefix) as tf.Tensor);
    });
  }
}

class BertPooler extends Module {
  constructor(dims: BertDims) {
    super();
    this.addModule('dense', new Linear(dims.hidden, dims.hidden));
  }
  /** tanh(dense(first token)). */
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.tanh(call(this, 'dense', tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]))));
  }
}

export interface BertInputs {
  inputIds: tf.Tensor;
  attentionMask: tf.Tensor;
  tokenTypeIds?: tf.Tensor;
}

/** BertModel / RobertaModel: embeddings, encoder and (optionally) the pooler. */
export class BertModel extends Module {
  constructor(
    readonly dims: BertDims,
    withPooler: boolean,
    /** Registrations of this model's extension points (model.points). */
    readonly points: PointRegistry = new PointRegistry(dims.paddingIdx === undefined ? 'bert' : 'roberta', dims.layers),
  ) {
    super();
    this.addModule('embeddings', new BertEmbeddings(dims));
    this.addModule('encoder', new BertEncoder(dims, points));
    if (withPooler) this.addModule('pooler', new BertPooler(dims));
  }
  /**
   * The last hidden state [b, n + s, hidden]: registered virtual tokens come first (PEFT's
   * prompt learning), so a first-token pooler reads the first of them, as in PEFT.
   */
  forward(inputs: BertInputs): tf.Tensor {
    return tf.tidy(() => {
      const virtual = this.points.virtualTokens(inputs.inputIds.shape[0]!, this.dims.hidden, this.training);
      let mask = inputs.attentionMask;
      if (virtual) mask = tf.concat([tf.ones([mask.shape[0]!, virtual.shape[1]], mask.dtype), mask], 1);
      const h = virtual ? call(this, 'embeddings', inputs.inputIds, inputs.tokenTypeIds, virtual) : call(this, 'embeddings', inputs.inputIds, inputs.tokenTypeIds);
      return call(this, 'encoder', h, paddingMask(mask));
    });
  }
}

/** BertForSequenceClassification: dropout(pooler output) → `classifier`. */
export class BertForSequenceClassification extends Module {
  constructor(readonly dims: BertDims, numLabels: number) {
    super();
    this.addModule('bert', new BertModel(dims, true));
    this.addModule('dropout', new Dropout(dims.classifierDropout));
    this.addModule('classifier', new Linear(dims.hidden, numLabels));
  }
  forward(inputs: BertInputs): tf.Tensor {
    return tf.tidy(() => {
      const pooled = call(this.getSubmodule('bert'), 'pooler', call(this, 'bert', inputs));
      return call(this, 'classifier', call(this, 'dropout', pooled));
    });
  }
}

/** RobertaClassificationHead, named `classifier`: dense → tanh → out_proj on the <s> token. */
class RobertaClassificationHead extends Module {
  constructor(dims: BertDims, numLabels: number) {
    super();
    this.addModule('dense', new Linear(dims.hidden, dims.hidden));
    this.addModule('dropout', new Dropout(dims.classifierDropout));
    this.addModule('out_proj', new Linear(dims.hidden, numLabels));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const first = tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]);
      const x = tf.tanh(call(this, 'dense', call(this, 'dropout', first)));
      return call(this, 'out_proj', call(this, 'dropout', x));
    });
  }
}

/** RobertaForSequenceClassification: no pooler (transformers builds it without one). */
export class RobertaForSequenceClassification extends Module {
  constructor(readonly dims: BertDims, numLabels: number) {
    super();
    this.addModule('roberta', new BertModel(dims, false));
    this.addModule('classifier', new RobertaClassificationHead(dims, numLabels));
  }
  forward(inputs: BertInputs): tf.Tensor {
    return tf.tidy(() => call(this, 'classifier', call(this, 'roberta', inputs)));
  }
}
