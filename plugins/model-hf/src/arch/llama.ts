import { PointRegistry, type KeyValuePrefix } from '@leantune/core';
import { BlockStack, Dropout, Embedding, Linear, Module, activationFn, tf } from '@leantune/tensor';
import { KvCache, attendHeads, call, causalMask, mergeHeads, paddingMask, splitHeads } from '../attention';
import { joinVirtualTokens } from '../points';
import type { ConfigReader } from '../config';
import { headLoss } from './gpt2';
import { lmHeadWeight, tiedEmbeddingWeight, type LmHeadWeight } from './tied';

/** The Llama-family model_types built here (same layout; they differ in biases, defaults and sliding windows). */
export type LlamaFamily = 'llama' | 'qwen2' | 'mistral';

/** LlamaConfig / Qwen2Config / MistralConfig fields, with transformers' defaults. */
export interface LlamaDims {
  family: LlamaFamily;
  vocabSize: number;
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  intermediate: number;
  act: string;
  eps: number;
  /** max_position_embeddings: the longest text encoded, and generation's window. */
  positions: number;
  /** RoPE inverse frequencies [headDim / 2] after rope scaling (llama3, linear). */
  invFreq: Float64Array;
  /** Multiplies cos and sin (1 for default, linear and llama3 RoPE). */
  ropeScale: number;
  /** Biases on q_proj, k_proj, v_proj (Qwen2: always; Llama: attention_bias). */
  qkvBias: boolean;
  /** Bias on o_proj (Llama's attention_bias). */
  oBias: boolean;
  /** Biases on gate/up/down_proj (Llama's mlp_bias). */
  mlpBias: boolean;
  tieWordEmbeddings: boolean;
  /** Per layer: the sliding window (keys at most window − 1 positions back), or undefined for full attention. */
  windows: Array<number | undefined>;
  attnDropout: number;
  initStd: number;
}

const DEFAULTS: Record<LlamaFamily, { positions: number; qkvBias: boolean }> = {
  llama: { positions: 2048, qkvBias: false },
  qwen2: { positions: 32768, qkvBias: true },
  mistral: { positions: 4096 * 32, qkvBias: false },
};

/** RoPE inverse frequencies, as transformers' ROPE_INIT_FUNCTIONS: default, linear and llama3. */
function ropeFrequencies(config: ConfigReader, headDim: number): { invFreq: Float64Array; scale: number } {
  const params = (config.raw.rope_parameters ?? config.raw.rope_scaling ?? null) as Record<string, unknown> | null;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params))) {
    throw new Error(`${config.source}: "rope_scaling" must be an object or null, got ${JSON.stringify(params)}; fix the value in config.json`);
  }
  const where = config.raw.rope_parameters ? 'rope_parameters' : 'rope_scaling';
  const theta = typeof params?.rope_theta === 'number' ? params.rope_theta : config.num('rope_theta', 10000);
  const type = String(params?.rope_type ?? params?.type ?? 'default');
  const half = headDim / 2;
  const invFreq = Float64Array.from({ length: half }, (_, i) => 1 / theta ** ((2 * i) / headDim));
  const num = (key: string, fallback?: number): number => {
    const v = params?.[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${config.source}: ${where}.${key} must be a number for rope_type "${type}", got ${JSON.stringify(v)}; fix the value in config.json`);
    return v;
  };
  if (type === 'default') return { invFreq, scale: 1 };
  if (type === 'linear') {
    const factor = num('factor');
    return { invFreq: invFreq.map((f) => f / factor), scale: 1 };
  }
  if (type === 'llama3') {
    const factor = num('factor');
    const low = num('low_freq_factor');
    const high = num('high_freq_factor');
    const old = num('original_max_position_embeddings');
    const lowWavelen = old / low;
    const highWavelen = old / high;
    const out = invFreq.map((f) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) return f;
      if (wavelen > lowWavelen) return f / factor;
      const smooth = (old / wavelen - low) / (high - low);
      return (1 - smooth) * (f / factor) + smooth * f;
    });
    return { invFreq: out, scale: 1 };
  }
  throw new Error(`${config.source}: ${where}.rope_type "${type}" is not supported; leantune computes RoPE for "default", "linear" and "llama3"`);
}

/** Which layers attend within a sliding window, as transformers' layer_types / sliding_window / use_sliding_window. */
function slidingWindows(config: ConfigReader, family: LlamaFamily, layers: number): Array<number | undefined> {
  const window = config.optionalInt('sliding_window');
  const types = config.raw.layer_types;
  if (Array.isArray(types)) {
    if (types.length !== layers) throw new Error(`${config.source}: "layer_types" has ${types.length} entries for num_hidden_layers ${layers}; fix config.json`);
    return types.map((t, i) => {
      if (t === 'full_attention') return undefined;
      if (t === 'sliding_attention' && window !== undefined) return window;
      throw new Error(`${config.source}: layer_types[${i}] ${JSON.stringify(t)} needs ${t === 'sliding_attention' ? 'a "sliding_window" size' : '"full_attention" or "sliding_attention"'}; fix config.json`);
    });
  }
  if (family === 'mistral') return new Array<number | undefined>(layers).fill(window);
  if (family === 'qwen2' && config.bool('use_sliding_window', false) && window !== undefined) {
    const first = config.int('max_window_layers', 28);
    return Array.from({ length: layers }, (_, i) => (i >= first ? window : undefined));
  }
  return new Array<number | undefined>(layers).fill(undefined);
}

export function llamaDims(config: ConfigReader, family: LlamaFamily): LlamaDims {
  const hidden = config.positiveInt('hidden_size', 4096);
  const heads = config.positiveInt('num_attention_heads', 32);
  const kvHeads = config.optionalInt('num_key_value_heads') ?? heads;
  if (kvHeads < 1 || heads % kvHeads !== 0) throw new Error(`${config.source}: num_attention_heads (${heads}) must be a multiple of num_key_value_heads (${kvHeads}); fix config.json`);
  const headDim = config.optionalInt('head_dim') ?? Math.floor(hidden / heads);
  if (headDim < 2 || headDim % 2 !== 0) throw new Error(`${config.source}: head_dim ${headDim} must be even for rotary embeddings (hidden_size / num_attention_heads unless head_dim is given); fix config.json`);
  const layers = config.positiveInt('num_hidden_layers', 32);
  const attentionBias = family === 'llama' && config.bool('attention_bias', false);
  const rope = ropeFrequencies(config, headDim);
  const act = config.str('hidden_act', 'silu');
  activationFn(act);
  return {
    family,
    vocabSize: config.positiveInt('vocab_size', 32000),
    hidden,
    layers,
    heads,
    kvHeads,
    headDim,
    intermediate: config.positiveInt('intermediate_size', 11008),
    act,
    eps: config.num('rms_norm_eps', 1e-6),
    positions: config.positiveInt('max_position_embeddings', DEFAULTS[family].positions),
    invFreq: rope.invFreq,
    ropeScale: rope.scale,
    qkvBias: DEFAULTS[family].qkvBias || attentionBias,
    oBias: attentionBias,
    mlpBias: family === 'llama' && config.bool('mlp_bias', false),
    tieWordEmbeddings: config.bool('tie_word_embeddings', false),
    windows: slidingWindows(config, family, layers),
    attnDropout: config.num('attention_dropout', 0),
    initStd: config.num('initializer_range', 0.02),
  };
}

/** LlamaRMSNorm: x / √(mean(x²) + eps) · weight over the last axis. */
export class RmsNorm extends Module {
  constructor(readonly dim: number, readonly eps: number) {
    super();
    tf.tidy(() => this.addParameter('weight', tf.ones([dim])));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), this.eps))), this.param('weight')));
  }
}

/** cos and sin [1, 1, s, headDim] of positions start … start + s − 1 (the two halves repeat, as transformers' rotary embedding). */
export function rotaryTables(dims: Pick<LlamaDims, 'invFreq' | 'headDim' | 'ropeScale'>, start: number, seq: number): [tf.Tensor4D, tf.Tensor4D] {
  const hd = dims.headDim;
  const half = hd / 2;
  const cos = new Float32Array(seq * hd);
  const sin = new Float32Array(seq * hd);
  for (let t = 0; t < seq; t++) {
    for (let i = 0; i < half; i++) {
      const angle = (start + t) * dims.invFreq[i];
      const c = Math.cos(angle) * dims.ropeScale;
      const s = Math.sin(angle) * dims.ropeScale;
      cos[t * hd + i] = cos[t * hd + half + i] = c;
      sin[t * hd + i] = sin[t * hd + half + i] = s;
    }
  }
  return [tf.tensor4d(cos, [1, 1, seq, hd]), tf.tensor4d(sin, [1, 1, seq, hd])];
}

/** x·cos + rotate_half(x)·sin on [b, h, s, hd], rotate_half(x) = [−x₂, x₁]. */
function applyRotary(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const half = x.shape[3]! / 2;
  const [x1, x2] = tf.split(x, [half, half], 3);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
}

/** repeat_kv: [b, kvHeads, s, hd] → [b, kvHeads · groups, s, hd], each key/value head serving `groups` query heads in a row. */
function repeatKv(x: tf.Tensor, groups: number): tf.Tensor {
  if (groups === 1) return x;
  const [b, kv, s, hd] = x.shape as [number, number, number, number];
  return tf.reshape(tf.tile(tf.expandDims(x, 2), [1, 1, groups, 1, 1]), [b, kv * groups, s, hd]);
}

/** LlamaAttention: q/k/v/o_proj, RoPE on q and k, grouped-query attention. */
class LlamaAttention extends Module {
  constructor(private readonly dims: LlamaDims, private readonly layerIdx: number) {
    super();
    const { hidden, heads, kvHeads, headDim } = dims;
    this.addModule('q_proj', new Linear(hidden, heads * headDim, { bias: dims.qkvBias }));
    this.addModule('k_proj', new Linear(hidden, kvHeads * headDim, { bias: dims.qkvBias }));
    this.addModule('v_proj', new Linear(hidden, kvHeads * headDim, { bias: dims.qkvBias }));
    this.addModule('o_proj', new Linear(heads * headDim, hidden, { bias: dims.oBias }));
    this.addModule('attn_dropout', new Dropout(dims.attnDropout));
  }
  /** `mask` covers the cached and the new keys; `cache` gets this call's (rotated) keys and values appended. */
  forward(h: tf.Tensor, mask: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, prefix?: KeyValuePrefix, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const { heads, kvHeads, headDim } = this.dims;
      const q = applyRotary(splitHeads(call(this, 'q_proj', h), heads), cos, sin);
      const k = applyRotary(splitHeads(call(this, 'k_proj', h), kvHeads), cos, sin);
      const v = splitHeads(call(this, 'v_proj', h), kvHeads);
      let { key: keys, value: values } = cache ? cache.append(this.layerIdx, k, v) : { key: k, value: v };
      let m = mask;
      if (prefix) {
        // Prefixes are past key/values of the key/value heads, joined after RoPE (as PEFT's past_key_values).
        const p = prefix.key.shape[2]!;
        keys = tf.concat([prefix.key, keys], 2);
        values = tf.concat([prefix.value, values], 2);
        if (p > 0) m = tf.concat([tf.zeros([...mask.shape.slice(0, -1), p]), mask], -1);
      }
      const groups = heads / kvHeads;
      const context = attendHeads(q, repeatKv(keys, groups), repeatKv(values, groups), { mask: m, scale: 1 / Math.sqrt(headDim), dropout: this.child<Dropout>('attn_dropout') });
      return call(this, 'o_proj', mergeHeads(context));
    });
  }
}

/** LlamaMLP: down_proj(act(gate_proj(x)) · up_proj(x)) (SwiGLU with silu). */
class LlamaMlp extends Module {
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  constructor(dims: LlamaDims) {
    super();
    this.act = activationFn(dims.act);
    this.addModule('gate_proj', new Linear(dims.hidden, dims.intermediate, { bias: dims.mlpBias }));
    this.addModule('up_proj', new Linear(dims.hidden, dims.intermediate, { bias: dims.mlpBias }));
    this.addModule('down_proj', new Linear(dims.intermediate, dims.hidden, { bias: dims.mlpBias }));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => call(this, 'down_proj', tf.mul(this.act(call(this, 'gate_proj', x)), call(this, 'up_proj', x))));
  }
}

/** LlamaDecoderLayer: h + attn(input_layernorm(h)), then + mlp(post_attention_layernorm(·)). */
class LlamaDecoderLayer extends Module {
  constructor(dims: LlamaDims, layerIdx: number) {
    super();
    this.addModule('self_attn', new LlamaAttention(dims, layerIdx));
    this.addModule('mlp', new LlamaMlp(dims));
    this.addModule('input_layernorm', new RmsNorm(dims.hidden, dims.eps));
    this.addModule('post_attention_layernorm', new RmsNorm(dims.hidden, dims.eps));
  }
  forward(h: tf.Tensor, mask: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, prefix?: KeyValuePrefix, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const a = tf.add(h, call(this, 'self_attn', call(this, 'input_layernorm', h), mask, cos, sin, prefix, cache));
      return tf.add(a, call(this, 'mlp', call(this, 'post_attention_layernorm', a)));
    });
  }
}

/** LlamaModel (Qwen2Model, MistralModel): embed_tokens → layers.N → norm. */
export class LlamaModel extends Module {
  constructor(
    readonly dims: LlamaDims,
    /** Registrations of this model's extension points (model.points). */
    readonly points: PointRegistry = new PointRegistry(dims.family, dims.layers),
  ) {
    super();
    this.addModule('embed_tokens', new Embedding(dims.vocabSize, dims.hidden, { initStd: dims.initStd }));
    this.addModule('layers', new BlockStack(Array.from({ length: dims.layers }, (_, i) => new LlamaDecoderLayer(dims, i))));
    this.addModule('norm', new RmsNorm(dims.hidden, dims.eps));
  }
  /** How many virtual tokens the registered providers give now (0 when none). */
  virtualTokenCount(): number {
    return tf.tidy(() => this.points.virtualTokens(1, this.dims.hidden, false)?.shape[1] ?? 0);
  }
  /**
   * Last hidden state [b, s, hidden] (after `norm`) of the real tokens; `attentionMask`
   * [b, s] hides right padding. Virtual tokens come first and take positions 0..n−1; with a
   * `cache`, the inputs follow its positions and only a first call (empty cache) adds them.
   */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => {
      const [batch, seq] = inputIds.shape as [number, number];
      if (cache && attentionMask) throw new Error(`${this.dims.family}: a cached forward (generation) takes no attentionMask; it runs one unpadded row`);
      const past = cache?.length ?? 0;
      const embeds = call(this, 'embed_tokens', inputIds);
      const joined = past === 0 ? joinVirtualTokens(this.points, embeds, attentionMask, 'prepend', this.training) : { h: embeds, mask: attentionMask, n: 0 };
      const total = joined.h.shape[1]!;
      const [cos, sin] = rotaryTables(this.dims, past, total);
      const padding = joined.mask ? paddingMask(joined.mask) : undefined;
      const masks = new Map<number | undefined, tf.Tensor>();
      const maskFor = (window: number | undefined) => {
        let m = masks.get(window);
        if (!m) {
          const causal = causalMask(total, past, window);
          m = padding ? tf.add(causal, padding) : causal;
          masks.set(window, m);
        }
        return m;
      };
      const windows = [...new Set(this.dims.windows)];
      const context = [cos, sin, ...windows.map(maskFor)];
      const stack = this.child<BlockStack>('layers')!;
      const heads = { heads: this.dims.kvHeads, headDim: this.dims.headDim };
      let h = this.points.runLayers(stack, joined.h, { checkpointing: stack.gradientCheckpointing, training: this.training, heads: () => heads, context }, (block, x, i, prefix, [c, s, ...m]) => {
        // A prefix is past key/values (PEFT's past_key_values): the tokens' positions start after it, as cache_position does.
        const p = prefix?.key.shape[2] ?? 0;
        const [pc, ps] = p > 0 ? rotaryTables(this.dims, past + p, total) : [c, s];
        return block.forward(x, m[windows.indexOf(this.dims.windows[i])], pc, ps, prefix, cache) as tf.Tensor;
      });
      if (cache) cache.length = past + total;
      if (joined.n > 0) h = tf.slice(h, [0, joined.n, 0], [batch, seq, -1]);
      return call(this, 'norm', h);
    });
  }
}

/**
 * LlamaForCausalLM (Qwen2ForCausalLM, MistralForCausalLM): `model` and `lm_head`, which with
 * tie_word_embeddings is `model.embed_tokens` (no separate parameter, as save_pretrained
 * leaves lm_head.weight out).
 */
export class LlamaForCausalLM extends Module {
  constructor(readonly dims: LlamaDims) {
    super();
    this.addModule('model', new LlamaModel(dims));
    if (!dims.tieWordEmbeddings) this.addModule('lm_head', new Linear(dims.hidden, dims.vocabSize, { bias: false }));
  }
  get points(): PointRegistry {
    return this.child<LlamaModel>('model')!.points;
  }
  /** Logits [b, s, vocab] of the real tokens. */
  forward(inputIds: tf.Tensor, attentionMask?: tf.Tensor, cache?: KvCache): tf.Tensor {
    return tf.tidy(() => this.logitsFrom(call(this, 'model', inputIds, attentionMask, cache)));
  }
  /** The last hidden state [b, s, hidden] of the real tokens. */
  hidden(inputIds: tf.Tensor, attentionMask?: tf.Tensor): tf.Tensor {
    return call(this, 'model', inputIds, attentionMask);
  }
  /** embed_tokens when tied, a plain lm_head otherwise, for the fused loss. */
  head(): LmHeadWeight | undefined {
    return lmHeadWeight(this, this.dims.tieWordEmbeddings ? 'model.embed_tokens' : undefined);
  }
  /** Next-token loss (headLoss: the fused LM head where it is one plain weight). */
  loss(inputIds: tf.Tensor, attentionMask: tf.Tensor, lossMask?: tf.Tensor): tf.Scalar {
    return headLoss(this, inputIds, attentionMask, lossMask);
  }
  /** lm_head on a last hidden state [b, s, hidden] → [b, s, vocab]. */
  logitsFrom(h: tf.Tensor): tf.Tensor {
    if (!this.dims.tieWordEmbeddings) return call(this, 'lm_head', h);
    return tf.tidy(() => {
      // With LoRA on embed_tokens: the base table unmerged, the merged one once merged (as PEFT).
      const table = tiedEmbeddingWeight(this, 'model.embed_tokens');
      const [b, s, d] = h.shape;
      return tf.reshape(tf.matMul(tf.reshape(h, [b * s, d]), table, false, true), [b, s, this.dims.vocabSize]);
    });
  }
}
