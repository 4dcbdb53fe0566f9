import { Dropout, Module, tf } from '@leantune/tensor';

/**
 * Added to masked scores. transformers uses the dtype's minimum; any value this negative
 * gives exactly zero weight after softmax in float32, and -1e9 keeps (score + mask) finite.
 */
const MASKED = -1e9;

/** [b, s] of 1 (keep) / 0 (pad) → additive [b, 1, 1, s] mask over keys. */
export function paddingMask(attentionMask: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    const [batch, seq] = attentionMask.shape;
    const pad = tf.sub(1, tf.cast(attentionMask, 'float32'));
    return tf.reshape(tf.mul(pad, MASKED), [batch, 1, 1, seq]) as tf.Tensor4D;
  });
}

/** [1, 1, s, s] additive mask hiding future keys (GPT-2, CLIP's text tower). */
export function causalMask(seq: number): tf.Tensor4D {
  const values = new Float32Array(seq * seq);
  for (let i = 0; i < seq; i++) for (let j = i + 1; j < seq; j++) values[i * seq + j] = MASKED;
  return tf.tensor4d(values, [1, 1, seq, seq]);
}

export interface SdpaOptions {
  numHeads: number;
  /** Additive mask broadcast to [b, h, s, s]. */
  mask?: tf.Tensor;
  /** Multiplies q·kᵀ; default 1/√headDim, as every architecture here. */
  scale?: number;
  /** Dropout on the attention probabilities, as transformers applies in training. */
  dropout?: Dropout;
}

/**
 * softmax(q·kᵀ·scale + mask)·v over heads, for q, k, v of [b, s, d]; returns [b, s, d].
 * Shared by all four architectures, which differ only in how they project q, k, v and
 * where they keep the projections (the names their checkpoints use).
 */
export function scaledDotProductAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: SdpaOptions): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, seq, dim] = q.shape;
    const { numHeads } = options;
    const headDim = dim / numHeads;
    const split = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [batch, seq, numHeads, headDim]), [0, 2, 1, 3]);
    let scores = tf.mul(tf.matMul(split(q), split(k), false, true), options.scale ?? 1 / Math.sqrt(headDim));
    if (options.mask) scores = tf.add(scores, options.mask);
    let probs = tf.softmax(scores, -1);
    if (options.dropout) probs = options.dropout.forward(probs);
    const context = tf.matMul(probs, split(v));
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, seq, dim]) as tf.Tensor3D;
  });
}

/** Calls a child by name on every forward, so a module swapped in by a PEFT method is used. */
export function call(owner: Module, name: string, ...inputs: unknown[]): tf.Tensor {
  return owner.getSubmodule(name).forward(...inputs) as tf.Tensor;
}
