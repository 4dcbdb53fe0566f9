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

  /** BERT counts 0..s-1; RoBERTa counts non-pad tokens from padding_idx + 1, pads keep padding_idx. */
  private positionIds(ids: tf.Tensor): tf.Tensor {
    const [batch, seq] = ids.shape;
    const pad = this.dims.paddingIdx;
    if (pad === undefined) return tf.tile(tf.expandDims(tf.range(0, seq, 1, 'int32'), 0), [batch, 1]);
    const keep = tf.cast(tf.notEqual(ids, pad), 'int32');
    // cumsum returns float32 even for int32 input in tfjs; positions must be int32 ids.
    return tf.cast(tf.add(tf.mul(tf.cast(tf.cumsum(keep, 1), 'int32'), keep), pad), 'int32');
  }

  forward(ids: tf.Tensor, tokenTypeIds?: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const types = tokenTypeIds ?? tf.zerosLike(ids);
      let h = tf.add(call(this, 'word_embeddings', ids), call(this, 'token_type_embeddings', types));
      h = tf.add(h, call(this, 'position_embeddings', this.positionIds(ids)));
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
  forward(h: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return scaledDotProductAttention(call(this, 'query', h), call(this, 'key', h), call(this, 'value', h), {
      numHeads: this.dims.heads,
      mask,
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
  forward(h: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => call(this, 'output', call(this, 'self', h, mask), h));
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
  forward(h: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const attended = call(this, 'attention', h, mask);
      return call(this, 'output', call(this, 'intermediate', attended), attended);
    });
  }
}

class BertEncoder extends Module {
  constructor(dims: BertDims) {
    super();
    this.addModule('layer', new BlockStack(Array.from({ length: dims.layers }, () => new BertLayer(dims))));
  }
  forward(h: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let x = h;
      x = this.child<BlockStack>('layer')!.chain(x, (layer, h) => layer.forward(h, mask) as tf.Tensor);
      return x;
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
  constructor(readonly dims: BertDims, withPooler: boolean) {
    super();
    this.addModule('embeddings', new BertEmbeddings(dims));
    this.addModule('encoder', new BertEncoder(dims));
    if (withPooler) this.addModule('pooler', new BertPooler(dims));
  }
  /** The last hidden state [b, s, hidden]. */
  forward(inputs: BertInputs): tf.Tensor {
    return tf.tidy(() => {
      const h = call(this, 'embeddings', inputs.inputIds, inputs.tokenTypeIds);
      return call(this, 'encoder', h, paddingMask(inputs.attentionMask));
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
