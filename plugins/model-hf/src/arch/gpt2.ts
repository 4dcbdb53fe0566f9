import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { Conv1D, Dropout, Embedding, LayerNorm, Module, BlockStack, activationFn, linearCrossEntropyWithLabels, softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';
import { KvCache, attendHeads, call, causalMask, mergeHeads, paddingMask, splitHeads } from '../attention';
import { joinVirtualTokens } from '../points';
import type { ConfigReader } from '../config';
import { lmHeadWeight, tiedEmbeddingWeight, type LmHeadWeight } from './tied';

/** GPT2Config fields, with transformers' defaults. */
export interface Gpt2Dims {
  vocabSize: number;
  positions: number;
  embd: number;
  layers: number;
  heads: number;
  inner: number;
  act: string;
  eps: number;
  residDropout: number;
  embdDropout: number;
  attnDropout: number;
  scaleAttnWeights: boolean;
  scaleByInverseLayerIdx: boolean;
}

export function gpt2Dims(config: ConfigReader): Gpt2Dims {
  const embd = config.positiveInt('n_embd', 768);
  const heads = config.positiveInt('n_head', 12);
  if (embd % heads !== 0) throw new Error(`${config.source}: n_embd (${embd}) must be divisible by n_head (${heads})`);
  // reorder_and_upcast_attn only changes half-precision numerics; we compute in float32.
  return {
    vocabSize: config.positiveInt('vocab_size', 50257),
    positions: config.positiveInt('n_positions', 1024),
    embd,
    layers: config.positiveInt('n_layer', 12),
    heads,
    inner: config.optionalInt('n_inner') ?? 4 * embd,
    act: config.str('activation_function', 'gelu_new'),
    eps: config.num('layer_norm_epsilon', 1e-5),
    residDropout: config.num('resid_pdrop', 0.1),
    embdDropout: config.num('embd_pdrop', 0.1),
    attnDropout: config.num('attn_pdrop', 0.1),
    scaleAttnWeights: config.bool('scale_attn_weights', true),
    scaleByInverseLayerIdx: config.bool('scale_attn_by_inverse_layer_idx', false),
  };
}

/** GPT2Attention: one fused `c_attn` Conv1D ([in, 3·in]) for q, k, v, then `c_proj`. */
class Gpt2Attention extends Module {
  constructor(private readonly dims: Gpt2Dims, private readonly layerIdx: number) {
    super();
    this.addModule('c_attn', new Conv1D(3 * dims.embd, dims.embd));
    this.addModule('c_proj', new Conv1D(dims.embd, dims.embd));
    this.addModule('attn_dropout', new Dropout(dims.attnDropout));
    this.addModule('resid_dropout', new Dropout(dims.residDropout));
  }
  /** `mask` covers the cached and the new keys; `cache` gets this call's keys and values appended. */
  forward(h: tf.Tensor, mask: tf.Tensor, prefix?: KeyValuePrefix, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const [q, k, v] = tf.split(call(this, 'c_attn', h), 3, 2).map((x) => splitHeads(x, this.dims.heads));
      const { key: keys, value: values } = cache ? cache.append(this.layerIdx, k, v) : { key: k, value: v };
      let scale = this.dims.scaleAttnWeights ? 1 / Math.sqrt(this.dims.embd / this.dims.heads) : 1;
      if (this.dims.scaleByInverseLayerIdx) scale /= this.layerIdx + 1;
      const context = attendHeads(q, keys, values, { mask, scale, prefix, dropout: this.child<Dropout>('attn_dropout') });
      return call(this, 'resid_dropout', call(this, 'c_proj', mergeHeads(context)));
    });
  }
}

class Gpt2Mlp extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(dims: Gpt2Dims) {
    super();
    this.act = activationFn(dims.act);
    this.addModule('c_fc', new Conv1D(dims.inner, dims.embd));
    this.addModule('c_proj', new Conv1D(dims.embd, dims.inner));
    this.addModule('dropout', new Dropout(dims.residDropout));
  }
  forward(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => call(this, 'dropout', call(this, 'c_proj', this.act(call(this, 'c_fc', h)))));
  }
}

/** Pre-norm block: h + attn(ln_1(h)), then + mlp(ln_2(·)). */
class Gpt2Block extends Module {
  constructor(dims: Gpt2Dims, layerIdx: number) {
    super();
    this.addModule('ln_1', new LayerNorm(dims.embd, { eps: dims.eps }));
    this.addModule('attn', new Gpt2Attention(dims, layerIdx));
    this.addModule('ln_2', new LayerNorm(dims.embd, { eps: dims.eps }));
    this.addModule('mlp', new Gpt2Mlp(dims));
  }
  forward(h: tf.Tensor, mask: tf.Tensor, prefix?: KeyValuePrefix, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const a = tf.add(h, call(this, 'attn', call(this, 'ln_1', h), mask, prefix, cache));
      return tf.add(a, call(this, 'mlp', call(this, 'ln_2', a)));
    });
  }
}

/** GPT2Model: wte + wpe → blocks `h.N` → ln_f. */
export class Gpt2Model extends Module {
  constructor(
    readonly dims: Gpt2Dims,
    /** Registrations of this model's extension points (model.points). */
    readonly points: PointRegistry = new PointRegistry('gpt2', dims.layers),
  ) {
    super();
    this.addModule('wte', new Embedding(dims.vocabSize, dims.embd, { initStd: 0.02 }));
    this.addModule('wpe', new Embedding(dims.positions, dims.embd, { initStd: 0.01 }));
    this.addModule('drop', new Dropout(dims.embdDropout));
    this.addModule('h', new BlockStack(Array.from({ length: dims.layers }, (_, i) => new Gpt2Block(dims, i))));
    this.addModule('ln_f', new LayerNorm(dims.embd, { eps: dims.eps }));
  }
  /** How many virtual tokens the registered providers give now (0 when none). */
  virtualTokenCount(): number {
    return tf.tidy(() => this.points.virtualTokens(1, this.dims.embd, false)?.shape[1] ?? 0);
  }
  /**
   * Last hidden state [b, s, n_embd] of the real tokens; `attentionMask` [b, s] hides right
   * padding. Virtual tokens (model.points) come first and take positions 0..n-1 (PEFT's
   * prompt tuning); with a `cache`, the inputs follow its positions and only a first call
   * (empty cache) adds virtual tokens.
   */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const [batch, seq] = inputIds.shape as [number, number];
      if (cache && attentionMask) throw new Error('Gpt2Model: a cached forward (generation) takes no attentionMask; it runs one unpadded row');
      const past = cache?.length ?? 0;
      const joined = past === 0 ? joinVirtualTokens(this.points, call(this, 'wte', inputIds), attentionMask, 'prepend', this.training) : { h: call(this, 'wte', inputIds), mask: attentionMask, n: 0 };
      const total = joined.h.shape[1]!;
      if (past + total > this.dims.positions) {
        throw new Error(`Gpt2Model: ${past + total} positions (${joined.n} virtual tokens, ${past} cached, ${seq} new) exceed n_positions ${this.dims.positions}; shorten the input or the prompt`);
      }
      const positions = tf.expandDims(tf.range(past, past + total, 1, 'int32'), 0);
      let h = call(this, 'drop', tf.add(joined.h, call(this, 'wpe', positions)));
      const causal = causalMask(total, past);
      const mask = joined.mask ? tf.add(causal, paddingMask(joined.mask)) : causal;
      const stack = this.child<BlockStack>('h')!;
      const heads = { heads: this.dims.heads, headDim: this.dims.embd / this.dims.heads };
      h = this.points.runLayers(stack, h, { checkpointing: stack.gradientCheckpointing, training: this.training, heads: () => heads, context: [mask] }, (block, x, _i, prefix, [m]) => block.forward(x, m, prefix, cache) as tf.Tensor);
      if (cache) cache.length = past + total;
      if (joined.n > 0) h = tf.slice(h, [0, joined.n, 0], [batch, seq, -1]);
      return call(this, 'ln_f', h);
    });
  }
}

/**
 * GPT2LMHeadModel. `lm_head` is tied to `transformer.wte` (transformers ties them and
 * checkpoints usually omit lm_head.weight), so it is computed from wte, not stored twice.
 */
export class Gpt2LMHeadModel extends Module {
  constructor(readonly dims: Gpt2Dims) {
    super();
    this.addModule('transformer', new Gpt2Model(dims));
  }
  /** Registrations of this model's extension points. */
  get points(): PointRegistry {
    return this.child<Gpt2Model>('transformer')!.points;
  }
  /** Logits [b, s, vocab] of the real tokens (virtual ones are not scored, as PEFT labels them -100). */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => this.logitsFrom(call(this, 'transformer', inputIds, attentionMask, cache)));
  }
  /** The last hidden state [b, s, n_embd] of the real tokens. */
  hidden(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor {
    return call(this, 'transformer', inputIds, attentionMask);
  }
  /** The tied head's weight (wte) for the fused loss. */
  head(): LmHeadWeight | undefined {
    return lmHeadWeight(this, 'transformer.wte');
  }
  /** Next-token loss (headLoss: the fused LM head, no logits kept). */
  loss(inputIds: tf.Tensor, attentionMask: tf.Tensor, lossMask?: tf.Tensor): tf.Scalar {
    return headLoss(this, inputIds, attentionMask, lossMask);
  }
  /** lm_head (tied to wte) on a last hidden state [b, s, n_embd] → [b, s, vocab]. */
  logitsFrom(h: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      // With LoRA on wte: the base table unmerged, the merged one once merged (as PEFT).
      const wte = tiedEmbeddingWeight(this, 'transformer.wte');
      const [b, s, d] = h.shape;
      return tf.reshape(tf.matMul(tf.reshape(h, [b * s, d]), wte, false, true), [b, s, this.dims.vocabSize]);
    });
  }
}

/**
 * Next-token labels [b·s], as GPT2LMHeadModel shifts labels = input_ids: position t is
 * labelled with token t+1; the last position and padded targets (mask 0) get −1, ignored
 * like −100. With a loss mask (chat fine-tuning: 1 on assistant tokens), only the tokens it
 * marks are targets. The logits are then used in place: no [b, s−1, vocab] slice.
 */
export function nextTokenLabels(inputIds: tf.Tensor, attentionMask: tf.Tensor, lossMask?: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const [b, s] = inputIds.shape;
    const shifted = (t: tf.Tensor) => tf.concat([tf.slice(tf.cast(t, 'int32'), [0, 1], [b, s - 1]), tf.zeros([b, 1], 'int32')], 1);
    const next = tf.concat([tf.slice(tf.cast(inputIds, 'int32'), [0, 1], [b, s - 1]), tf.fill([b, 1], -1, 'int32')], 1);
    let attended = shifted(attentionMask);
    if (lossMask) attended = tf.mul(attended, shifted(lossMask));
    return tf.reshape(tf.where(tf.greater(attended, 0), next, tf.fill([b, s], -1, 'int32')), [-1]) as tf.Tensor1D;
  });
}

/** Next-token cross-entropy of logits [b, s, vocab] (nextTokenLabels). */
export function causalLmLoss(logits: tf.Tensor, inputIds: tf.Tensor, attentionMask: tf.Tensor, lossMask?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const [b, s, vocab] = logits.shape;
    return softmaxCrossEntropyWithLabels(tf.reshape(logits, [b * s, vocab]), nextTokenLabels(inputIds, attentionMask, lossMask));
  });
}

/**
 * The causal LM loss of a model with an LM head: from the last hidden state through
 * linearCrossEntropyWithLabels when the head is one plain weight (the logits never exist
 * whole), through `logitsFrom` otherwise. Equal to causalLmLoss(model.forward(…)).
 */
export function headLoss(lm: { hidden(ids: tf.Tensor, mask: tf.Tensor): tf.Tensor; logitsFrom(h: tf.Tensor): tf.Tensor; head(): LmHeadWeight | undefined }, inputIds: tf.Tensor, attentionMask: tf.Tensor, lossMask?: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const h = lm.hidden(inputIds, attentionMask);
    const head = lm.head();
    if (!head) return causalLmLoss(lm.logitsFrom(h), inputIds, attentionMask, lossMask);
    const [b, s, d] = h.shape;
    return linearCrossEntropyWithLabels(tf.reshape(h, [b * s, d]), head.weight, nextTokenLabels(inputIds, attentionMask, lossMask), { weightTrains: head.trains });
  });
}
