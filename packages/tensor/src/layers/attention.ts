import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { checkPositiveInt, checkProbability, checkRank } from './checks';
import { Dropout } from './dropout';
import { Linear } from './linear';

/** Child names of the four projections, so LoRA and checkpoints can address them. */
export interface AttentionNames {
  q: string;
  k: string;
  v: string;
  o: string;
}

/** Common naming schemes; BERT's (query/key/value + output) is the default. */
export const ATTENTION_NAMES = {
  bert: { q: 'query', k: 'key', v: 'value', o: 'output' },
  bart: { q: 'q_proj', k: 'k_proj', v: 'v_proj', o: 'out_proj' },
} as const satisfies Record<string, AttentionNames>;

export interface MultiHeadAttentionOptions {
  /** Mask future positions in every forward (default false). */
  causal?: boolean;
  /** Biases on the four projections (default true). */
  bias?: boolean;
  /** Dropout on the attention weights (default 0). */
  dropout?: number;
  names?: AttentionNames;
}

export interface AttentionForwardOptions {
  /** [batch, seq], 1 = attend, 0 = padding (Hugging Face's attention_mask). */
  attentionMask?: tf.Tensor;
  /** Overrides the layer's `causal` for this call. */
  causal?: boolean;
  /**
   * Keys and values [batch, heads, p, headDim] joined before the sequence's own (after
   * their projections, as past_key_values are): always attended, visible to every query
   * under the causal mask (prefix tuning).
   */
  prefix?: { key: tf.Tensor; value: tf.Tensor };
}

export interface AttentionResult {
  output: tf.Tensor3D;
  /** Softmax weights [batch, heads, query, key], after dropout. */
  weights: tf.Tensor4D;
}

/**
 * Added to the scores of masked keys. exp(-1e9 - max) underflows to exactly 0 in float32,
 * so a masked key gets exactly zero weight (unless a whole row is masked).
 */
export const MASK_VALUE = -1e9;

function checkNames(names: AttentionNames): void {
  const values = [names.q, names.k, names.v, names.o];
  for (const n of values) {
    if (!n || n.includes('.')) {
      throw new Error(`MultiHeadAttention: names must be non-empty and contain no '.', got ${JSON.stringify(names)}`);
    }
  }
  if (new Set(values).size !== 4) {
    throw new Error(`MultiHeadAttention: names q, k, v, o must be distinct, got ${JSON.stringify(names)}`);
  }
}

/** [seq, seq] additive mask: 0 on and below the diagonal, MASK_VALUE above it. */
function causalMask(seq: number): tf.Tensor2D {
  const values = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) values[i * seq + j] = MASK_VALUE;
  return tf.tensor2d(values, [seq, seq]);
}

/** Scaled dot-product self-attention with separate q/k/v/o `Linear` children. */
export class MultiHeadAttention extends Module {
  readonly dim: number;
  readonly numHeads: number;
  readonly headDim: number;
  readonly causal: boolean;
  readonly names: AttentionNames;
  private readonly attnDropout: Dropout;

  constructor(dim: number, numHeads: number, options: MultiHeadAttentionOptions = {}) {
    super();
    checkPositiveInt(dim, 'MultiHeadAttention', 'dim');
    checkPositiveInt(numHeads, 'MultiHeadAttention', 'numHeads');
    if (dim % numHeads !== 0) {
      throw new Error(`MultiHeadAttention: dim (${dim}) must be divisible by numHeads (${numHeads})`);
    }
    const names = options.names ?? ATTENTION_NAMES.bert;
    checkNames(names);
    checkProbability(options.dropout ?? 0, 'MultiHeadAttention', 'dropout');
    this.dim = dim;
    this.numHeads = numHeads;
    this.headDim = dim / numHeads;
    this.causal = options.causal ?? false;
    this.names = { ...names };
    const bias = options.bias ?? true;
    for (const n of [names.q, names.k, names.v, names.o]) this.addModule(n, new Linear(dim, dim, { bias }));
    this.attnDropout = this.addModule('dropout', new Dropout(options.dropout ?? 0));
  }

  /** Looks the projection up by name on every call, so a LoRA wrapper put in its place is used. */
  private project(which: keyof AttentionNames, x: tf.Tensor): tf.Tensor {
    return this.getSubmodule(this.names[which]).forward(x) as tf.Tensor;
  }

  /** [b, s, d] → [b, h, s, hd] */
  private splitHeads(x: tf.Tensor, batch: number, seq: number): tf.Tensor4D {
    return tf.transpose(tf.reshape(x, [batch, seq, this.numHeads, this.headDim]), [0, 2, 1, 3]);
  }

  private additiveMask(batch: number, seq: number, options: AttentionForwardOptions): tf.Tensor | undefined {
    let mask: tf.Tensor | undefined;
    const { attentionMask } = options;
    if (attentionMask) {
      if (attentionMask.rank !== 2 || attentionMask.shape[0] !== batch || attentionMask.shape[1] !== seq) {
        throw new Error(
          `MultiHeadAttention: attentionMask must be [batch, seq] = [${batch}, ${seq}] of 1 (keep) / 0 (pad), got [${attentionMask.shape}]`,
        );
      }
      const pad = tf.sub(1, tf.cast(attentionMask, 'float32'));
      mask = tf.reshape(tf.mul(pad, MASK_VALUE), [batch, 1, 1, seq]);
    }
    if (options.causal ?? this.causal) {
      const c = causalMask(seq);
      mask = mask ? tf.add(mask, c) : c;
    }
    return mask;
  }

  /** The output and the attention weights; `forward` returns only the output. */
  attend(x: tf.Tensor, options: AttentionForwardOptions = {}): AttentionResult {
    checkRank(x, 3, 'MultiHeadAttention', '[batch, seq, dim]');
    const [batch, seq, dim] = x.shape;
    if (dim !== this.dim) {
      throw new Error(`MultiHeadAttention: input last dimension must be ${this.dim}, got shape [${x.shape}]`);
    }
    return tf.tidy(() => {
      const q = this.splitHeads(this.project('q', x), batch, seq);
      let k: tf.Tensor = this.splitHeads(this.project('k', x), batch, seq);
      let v: tf.Tensor = this.splitHeads(this.project('v', x), batch, seq);
      let mask = this.additiveMask(batch, seq, options);
      const { prefix } = options;
      if (prefix) {
        const p = prefix.key.shape[2] ?? -1;
        const want = [batch, this.numHeads, p, this.headDim];
        if (!tf.util.arraysEqual(prefix.key.shape, want) || !tf.util.arraysEqual(prefix.value.shape, want)) {
          throw new Error(`MultiHeadAttention: prefix key and value must both be [batch, heads, p, headDim] = [${want}], got [${prefix.key.shape}] and [${prefix.value.shape}]`);
        }
        k = tf.concat([prefix.key, k], 2);
        v = tf.concat([prefix.value, v], 2);
        if (mask && p > 0) mask = tf.concat([tf.zeros([...mask.shape.slice(0, -1), p]), mask], -1);
      }
      let scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(this.headDim));
      if (mask) scores = tf.add(scores, mask);
      const weights = this.attnDropout.forward(tf.softmax(scores, -1)) as tf.Tensor4D;
      const context = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [batch, seq, this.dim]);
      const output = this.project('o', context) as tf.Tensor3D;
      return { output, weights };
    });
  }

  forward(x: tf.Tensor, options: AttentionForwardOptions = {}): tf.Tensor3D {
    const { output, weights } = this.attend(x, options);
    weights.dispose();
    return output;
  }
}
