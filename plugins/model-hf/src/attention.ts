import { Dropout, Module, attention, nextSeed, tf } from '@leantune/tensor';

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

/**
 * [1, 1, s, past + s] additive mask hiding future keys (GPT-2, CLIP's text tower); the s
 * queries follow `past` cached positions. With `window` (Mistral's sliding_window) a query
 * at position q also hides keys at kv ≤ q − window, as transformers' sliding-window mask.
 */
export function causalMask(seq: number, past = 0, window?: number): tf.Tensor4D {
  const keys = past + seq;
  const values = new Float32Array(seq * keys);
  for (let i = 0; i < seq; i++) {
    const q = past + i;
    for (let j = 0; j < keys; j++) if (j > q || (window !== undefined && j <= q - window)) values[i * keys + j] = MASKED;
  }
  return tf.tensor4d(values, [1, 1, seq, keys]);
}

/**
 * Keys and values of the positions a generation has already run, per layer
 * ([1, kvHeads, past, headDim] each), transformers' past_key_values. Virtual tokens are part
 * of it; attention prefixes are not (they are joined on every call).
 */
export class KvCache {
  length = 0;
  readonly layers: Array<{ key: tf.Tensor; value: tf.Tensor } | undefined> = [];
  dispose(): void {
    for (const kv of this.layers) tf.dispose([kv?.key, kv?.value].filter((t): t is tf.Tensor => !!t));
    this.layers.length = 0;
    this.length = 0;
  }
  /** Appends this call's keys and values of `layer` and returns all of them (kept). */
  append(layer: number, key: tf.Tensor, value: tf.Tensor): { key: tf.Tensor; value: tf.Tensor } {
    const past = this.layers[layer];
    const keys = past ? tf.concat([past.key, key], 2) : key;
    const values = past ? tf.concat([past.value, value], 2) : value;
    if (past) tf.dispose([past.key, past.value]);
    this.layers[layer] = { key: tf.keep(keys), value: tf.keep(values) };
    return { key: keys, value: values };
  }
}

export interface SdpaOptions {
  numHeads: number;
  /** Additive mask over the sequence's own keys (past ones included), broadcast to [b, h, s, keys]. */
  mask?: tf.Tensor;
  /** Multiplies q·kᵀ; default 1/√headDim, as every architecture here. */
  scale?: number;
  /** Dropout on the attention probabilities, as transformers applies in training. */
  dropout?: Dropout;
  /** Keys and values [b, h, p, headDim] joined before all others and always attended (prefix tuning). */
  prefix?: { key: tf.Tensor; value: tf.Tensor };
}

/** [b, s, d] → [b, heads, s, d / heads]. */
export function splitHeads(x: tf.Tensor, numHeads: number): tf.Tensor4D {
  const [batch, seq, dim] = x.shape;
  return tf.transpose(tf.reshape(x, [batch, seq, numHeads, dim / numHeads]), [0, 2, 1, 3]);
}

/** [b, heads, s, hd] → [b, s, heads · hd]. */
export function mergeHeads(x: tf.Tensor): tf.Tensor3D {
  const [batch, heads, seq, headDim] = x.shape;
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [batch, seq, heads * headDim]) as tf.Tensor3D;
}

/** softmax(q·kᵀ·scale + mask)·v on heads [b, h, s, hd], with `prefix` keys/values joined first (mask 0 over them). */
export function attendHeads(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: Omit<SdpaOptions, 'numHeads'>): tf.Tensor4D {
  return tf.tidy(() => {
    let mask = options.mask;
    if (options.prefix) {
      const p = options.prefix.key.shape[2]!;
      k = tf.concat([options.prefix.key, k], 2);
      v = tf.concat([options.prefix.value, v], 2);
      if (mask && p > 0) mask = tf.concat([tf.zeros([...mask.shape.slice(0, -1), p]), mask], -1);
    }
    const scale = options.scale ?? 1 / Math.sqrt(q.shape[3]!);
    const drop = options.dropout;
    if (drop?.training && drop.p === 1) return tf.zeros([q.shape[0]!, q.shape[1]!, q.shape[2]!, v.shape[3]!]);
    // One op that keeps only q, k, v for its backward (the probabilities are recomputed there).
    return attention(q, k, v, { scale, mask, dropout: drop?.training && drop.p > 0 ? { p: drop.p, seed: nextSeed() } : undefined });
  });
}

/**
 * softmax(q·kᵀ·scale + mask)·v over heads, for q, k, v of [b, s, d]; returns [b, s, d].
 * Shared by all four architectures, which differ only in how they project q, k, v and
 * where they keep the projections (the names their checkpoints use).
 */
export function scaledDotProductAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: SdpaOptions): tf.Tensor3D {
  return tf.tidy(() => {
    const { numHeads, ...rest } = options;
    return mergeHeads(attendHeads(splitHeads(q, numHeads), splitHeads(k, numHeads), splitHeads(v, numHeads), rest));
  });
}

/** Calls a child by name on every forward, so a module swapped in by a PEFT method is used. */
export function call(owner: Module, name: string, ...inputs: unknown[]): tf.Tensor {
  return owner.getSubmodule(name).forward(...inputs) as tf.Tensor;
}
