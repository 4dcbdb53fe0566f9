import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { Embedding, LayerNorm, Linear, MLP, Module, ModuleList, MultiHeadAttention, tf } from '@leantune/tensor';

/** Sizes read off the shipped graph (see README "Structure"). */
export const USE_LITE_CONFIG = {
  vocabSize: 8002,
  embeddingDim: 256,
  hiddenDim: 512,
  ffnDim: 1536,
  numHeads: 4,
  maxPositions: 128,
  layerNormEps: 1e-6,
} as const;

/** Projections are children q/k/v/o, so LoRA's default targets for 'use-lite' are ['q', 'v']. */
const ATTENTION_NAMES = { q: 'q', k: 'k', v: 'v', o: 'o' };

/**
 * The graph's TimingSignal: position p gets [sin(p·w_i), cos(p·w_i)], w_i = 10⁴^(-i/127),
 * i < 128, computed in float32 with the same ops so it matches the graph's constant table.
 */
export function timingSignal(positions: number, channels: number): tf.Tensor2D {
  return tf.tidy(() => {
    const half = channels / 2;
    const rates = tf.exp(tf.mul(tf.range(0, half, 1, 'float32'), -Math.log(1e4) / (half - 1)));
    const angles = tf.mul(tf.reshape(tf.range(0, positions, 1, 'float32'), [positions, 1]), tf.reshape(rates, [1, half]));
    return tf.concat([tf.sin(angles), tf.cos(angles)], 1) as tf.Tensor2D;
  });
}

/**
 * One Kona transformer layer, pre-norm: x ← proj(x) + attn(norm(x)); x ← x + ffn(norm(x)).
 * Layer 0 widens 256 → 512: its attention output projection `o` is 256→512 and the
 * residual goes through `residual_proj` (the graph's AdjustResidualInput dense).
 */
export class UseLiteLayer extends Module {
  constructor(inDim: number, outDim: number) {
    super();
    const { numHeads, ffnDim, layerNormEps } = USE_LITE_CONFIG;
    this.addModule('attention_norm', new LayerNorm(inDim, { eps: layerNormEps }));
    const attention = this.addModule('attention', new MultiHeadAttention(inDim, numHeads, { names: ATTENTION_NAMES }));
    if (outDim !== inDim) {
      // MultiHeadAttention builds a square `o`; the widening layer needs inDim → outDim.
      attention.getSubmodule('o').dispose();
      attention.setSubmodule('o', new Linear(inDim, outDim));
      this.addModule('residual_proj', new Linear(inDim, outDim));
    }
    this.addModule('ffn_norm', new LayerNorm(outDim, { eps: layerNormEps }));
    this.addModule('ffn', new MLP(outDim, ffnDim, 'relu'));
  }

  /** `prefix`: keys/values [batch, 4, p, headDim] joined before the sequence's (model.points.attentionPrefix). */
  forward(x: tf.Tensor, attentionMask: tf.Tensor, prefix?: KeyValuePrefix): tf.Tensor {
    return tf.tidy(() => {
      const normed = this.getSubmodule('attention_norm').forward(x) as tf.Tensor;
      const attended = (this.getSubmodule('attention') as MultiHeadAttention).forward(normed, prefix ? { attentionMask, prefix } : { attentionMask });
      const residual = this.child('residual_proj') ? (this.getSubmodule('residual_proj').forward(x) as tf.Tensor) : x;
      const h = tf.add(attended, residual);
      const ffnIn = this.getSubmodule('ffn_norm').forward(h) as tf.Tensor;
      return tf.add(h, this.getSubmodule('ffn').forward(ffnIn) as tf.Tensor);
    });
  }
}

export interface UseLiteOutput {
  /** Masked mean of the last layer over the real tokens [batch, 512]. */
  meanPooled: tf.Tensor2D;
  /** tanh(pooler.dense(meanPooled)) [batch, 512]: what a classifier reads (BERT's pooler output). */
  pooled: tf.Tensor2D;
  /** `pooled`, L2-normalised [batch, 512]: the sentence embedding the shipped model outputs. */
  embedding: tf.Tensor2D;
}

/**
 * A lookup table with Embedding's `weight` path and forward, built from given values:
 * Embedding's N(0, σ²) init of 8002×256 values (≈1.5 s on the cpu backend) would only be
 * overwritten by the pretrained table.
 */
class PretrainedEmbedding extends Module {
  constructor(weight: tf.Tensor2D) {
    super();
    this.addParameter('weight', weight);
  }

  forward(ids: tf.Tensor): tf.Tensor {
    if (ids.dtype !== 'int32') throw new Error(`use-lite: token ids must be int32, got ${ids.dtype}`);
    return tf.gather(this.param('weight'), ids);
  }
}

/** Word embeddings; the graph adds the timing-signalled embedding to the embedding itself. */
class UseLiteEmbeddings extends Module {
  private readonly timing: tf.Tensor2D;

  constructor(pretrained?: tf.Tensor2D) {
    super();
    const { vocabSize, embeddingDim, maxPositions } = USE_LITE_CONFIG;
    if (pretrained && !tf.util.arraysEqual(pretrained.shape, [vocabSize, embeddingDim])) {
      throw new Error(`use-lite: word embeddings must be [${vocabSize}, ${embeddingDim}], got [${pretrained.shape}]`);
    }
    const table = pretrained ? new PretrainedEmbedding(pretrained) : new Embedding(vocabSize, embeddingDim, { initStd: 0.02 });
    this.addModule('word_embeddings', table);
    this.timing = tf.keep(timingSignal(maxPositions, embeddingDim));
  }

  /**
   * `virtual` [batch, n, 256] stands in for the word embeddings of n tokens before `ids`;
   * `mask` covers both. `words` [batch, seq, 256], when given, replaces the lookup of `ids`
   * (input embeddings, e.g. CoOp's context vectors in some slots).
   */
  forward(ids: tf.Tensor, mask: tf.Tensor, virtual?: tf.Tensor, words?: tf.Tensor): tf.Tensor {
    const n = virtual?.shape[1] ?? 0;
    const seq = ids.shape[1]! + n;
    if (seq > USE_LITE_CONFIG.maxPositions) {
      throw new Error(`use-lite: input has ${seq} positions${n ? ` (${n} virtual tokens)` : ''}, more than the model's ${USE_LITE_CONFIG.maxPositions}; truncate when encoding${n ? ' or use a shorter prompt' : ''}`);
    }
    return tf.tidy(() => {
      let embedded = words ?? (this.getSubmodule('word_embeddings').forward(ids) as tf.Tensor);
      if (virtual) embedded = tf.concat([virtual, embedded], 1);
      // x = E + (E + PE): AddTimingSignal's output is added back to its input in the graph.
      const x = tf.add(tf.mul(embedded, 2), tf.slice(this.timing, [0, 0], [seq, -1]));
      return tf.mul(x, tf.expandDims(mask, -1));
    });
  }

  disposeConstants(): void {
    this.timing.dispose();
  }

  override dispose(): void {
    super.dispose();
    this.disposeConstants();
  }
}

class UseLitePooler extends Module {
  constructor() {
    super();
    this.addModule('dense', new Linear(USE_LITE_CONFIG.hiddenDim, USE_LITE_CONFIG.hiddenDim));
  }

  forward(meanPooled: tf.Tensor): tf.Tensor2D {
    return tf.tidy(() => tf.tanh(this.getSubmodule('dense').forward(meanPooled) as tf.Tensor) as tf.Tensor2D);
  }
}

export interface UseLiteEncoderOptions {
  /** The [8002, 256] table to start from instead of a random one (copied). */
  wordEmbeddings?: tf.Tensor2D;
}

/** USE-lite as trainable modules: embeddings → encoder.layer.{0,1} → masked mean → pooler. */
export class UseLiteEncoder extends Module {
  /** Registrations of this model's extension points (model.points). */
  readonly points = new PointRegistry('use-lite', 2);

  constructor(options: UseLiteEncoderOptions = {}) {
    super();
    const { embeddingDim, hiddenDim } = USE_LITE_CONFIG;
    this.addModule('embeddings', new UseLiteEmbeddings(options.wordEmbeddings));
    const encoder = this.addModule('encoder', new UseLiteStack(this.points));
    encoder.addLayer(new UseLiteLayer(embeddingDim, hiddenDim));
    encoder.addLayer(new UseLiteLayer(hiddenDim, hiddenDim));
    this.addModule('pooler', new UseLitePooler());
  }

  /** Adds a fresh classification head `classifier` (Linear 512 → numLabels) reading `pooled`; replaces (and frees) an old one. */
  addClassifier(numLabels: number): Linear {
    this.child('classifier')?.dispose();
    return this.addModule('classifier', new Linear(USE_LITE_CONFIG.hiddenDim, numLabels));
  }

  /** Classifier logits [batch, numLabels]; needs addClassifier first. */
  logits(ids: tf.Tensor, attentionMask: tf.Tensor): tf.Tensor2D {
    const classifier = this.child('classifier');
    if (!classifier) throw new Error('use-lite: this model has no classification head; load it with head: "classification"');
    return tf.tidy(() => classifier.forward(this.forward(ids, attentionMask).pooled) as tf.Tensor2D);
  }

  /** Parameters, plus the timing table (a constant, not a parameter). */
  override dispose(): void {
    super.dispose();
    this.child<UseLiteEmbeddings>('embeddings')?.disposeConstants();
  }

  /**
   * ids: int32 [batch, seq]; attentionMask: [batch, seq], 1 = token, 0 = padding; `words`
   * [batch, seq, 256]: input embeddings used instead of looking `ids` up.
   */
  forward(ids: tf.Tensor, attentionMask: tf.Tensor, words?: tf.Tensor): UseLiteOutput {
    if (ids.rank !== 2 || attentionMask.rank !== 2 || !tf.util.arraysEqual(ids.shape, attentionMask.shape)) {
      throw new Error(`use-lite: ids and attentionMask must both be [batch, seq], got [${ids.shape}] and [${attentionMask.shape}]`);
    }
    if (words && (words.rank !== 3 || !tf.util.arraysEqual(words.shape, [...ids.shape, USE_LITE_CONFIG.embeddingDim]))) {
      throw new Error(`use-lite: input embeddings must be [${ids.shape}, ${USE_LITE_CONFIG.embeddingDim}] for ids [${ids.shape}], got [${words.shape}]`);
    }
    return tf.tidy(() => {
      // Virtual tokens (model.points) come first, always attended, and count in the mean pool.
      const virtual = this.points.virtualTokens(ids.shape[0]!, USE_LITE_CONFIG.embeddingDim, this.training);
      let mask = tf.cast(attentionMask, 'float32');
      if (virtual) mask = tf.concat([tf.ones([mask.shape[0]!, virtual.shape[1]]), mask], 1);
      let h = this.getSubmodule('embeddings').forward(ids, mask, virtual ?? undefined, words) as tf.Tensor;
      h = this.getSubmodule('encoder').forward(h, mask) as tf.Tensor;
      // Mean over real tokens; an empty text pools to zeros (max(count, 1)), as in the graph.
      const summed = tf.sum(tf.mul(h, tf.expandDims(mask, -1)), 1);
      const meanPooled = tf.div(summed, tf.maximum(tf.sum(mask, 1, true), 1)) as tf.Tensor2D;
      const pooled = this.getSubmodule('pooler').forward(meanPooled) as tf.Tensor2D;
      // l2_normalize as the graph does it: x·rsqrt(max(Σx², 1e-12)).
      const embedding = tf.mul(pooled, tf.rsqrt(tf.maximum(tf.sum(tf.square(pooled), -1, true), 1e-12))) as tf.Tensor2D;
      return { meanPooled, pooled, embedding };
    });
  }
}

/** Layer i's attention heads: 4 of 64 at width 256 (layer 0), 4 of 128 at 512 (layer 1). */
export function useLiteHeads(layer: number): { heads: number; headDim: number } {
  const dim = layer === 0 ? USE_LITE_CONFIG.embeddingDim : USE_LITE_CONFIG.hiddenDim;
  return { heads: USE_LITE_CONFIG.numHeads, headDim: dim / USE_LITE_CONFIG.numHeads };
}

/** `encoder.layer.N`, looked up on each call so an injected replacement is used. */
class UseLiteStack extends Module {
  constructor(private readonly points: PointRegistry) {
    super();
    this.addModule('layer', new ModuleList<UseLiteLayer>());
  }

  addLayer(layer: UseLiteLayer): void {
    this.child<ModuleList<UseLiteLayer>>('layer')!.append(layer);
  }

  forward(x: tf.Tensor, mask: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const layers = this.child<ModuleList<UseLiteLayer>>('layer')!;
      return this.points.runLayers(layers, x, { checkpointing: false, training: this.training, heads: useLiteHeads }, (layer, h, _i, prefix) => layer.forward(h, mask, prefix) as tf.Tensor);
    });
  }
}
