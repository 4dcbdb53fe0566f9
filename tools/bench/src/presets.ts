import type { Batch, LoadedModel } from '@leantune/core';
import {
  BertForSequenceClassification,
  ConfigReader,
  Gpt2LMHeadModel,
  LlamaForCausalLM,
  VitForImageClassification,
  bertDims,
  gpt2Dims,
  llamaDims,
  vitDims,
  type HfConfig,
} from '@leantune/plugin-hf';
import { softmaxCrossEntropyWithLabels, tf, type Module } from '@leantune/tensor';
import { loaderPlugin } from './loader-plugin';

/**
 * Real-model presets: the hf plugin's own GPT-2, BERT, ViT and Llama classes, built from a
 * config.json-shaped object the way the loader does, with random init (no checkpoint).
 * The same resolved config goes to the PyTorch peer (peer/<model>.py), which reads the
 * same keys, so both sides build the same network.
 */
export type PresetName = 'gpt2-small' | 'bert-base' | 'vit-b16' | 'smollm2-135m';

/** Presets whose model is a causal LM (ids in, next-token loss, no labels). */
const CAUSAL_LMS: readonly PresetName[] = ['gpt2-small', 'smollm2-135m'];

/** Config keys each override maps to, per model family. */
interface Keys {
  layers: string;
  hidden: string;
  heads: string;
  inner: string;
  vocab?: string;
  /** Grouped-query attention: key/value heads, kept a divisor of the heads when those change. */
  kvHeads?: string;
}

export interface Preset {
  title: string;
  /** Throughput unit in the table: tokens for the LM, samples for the classifiers. */
  unit: 'tok/s' | 'samples/s';
  batch: number;
  /** Tokens per sample (vit: patches + CLS, derived from image and patch size). */
  seq: number;
  labels: number;
  config: HfConfig;
  keys: Keys;
  /** LoRA r 8, alpha 16 on these; modules_to_save as PEFT's SEQ_CLS / image classification. */
  lora: { target_modules: string[]; modules_to_save?: string[] };
  peer: string;
}

const BERT_KEYS: Keys = { layers: 'num_hidden_layers', hidden: 'hidden_size', heads: 'num_attention_heads', inner: 'intermediate_size', vocab: 'vocab_size' };
const ENCODER = { num_hidden_layers: 12, hidden_size: 768, num_attention_heads: 12, intermediate_size: 3072, hidden_act: 'gelu' };
const CLASSIFIER_LORA = { target_modules: ['query', 'value'], modules_to_save: ['classifier'] };

export const PRESETS: Record<PresetName, Preset> = {
  'gpt2-small': {
    title: 'GPT-2 small (GPT2LMHeadModel, tied lm_head, Conv1D, gelu_new), causal LM loss',
    unit: 'tok/s',
    batch: 4,
    seq: 128,
    labels: 0,
    config: {
      model_type: 'gpt2', n_layer: 12, n_embd: 768, n_head: 12, n_inner: 3072, vocab_size: 50257, n_positions: 1024,
      activation_function: 'gelu_new', layer_norm_epsilon: 1e-5, resid_pdrop: 0.1, embd_pdrop: 0.1, attn_pdrop: 0.1,
    },
    keys: { layers: 'n_layer', hidden: 'n_embd', heads: 'n_head', inner: 'n_inner', vocab: 'vocab_size' },
    lora: { target_modules: ['c_attn'] },
    peer: 'gpt2.py',
  },
  'smollm2-135m': {
    title: 'SmolLM2-135M (LlamaForCausalLM: RMSNorm, RoPE θ 1e5, grouped-query attention 9/3 heads, SwiGLU, tied lm_head), causal LM loss',
    unit: 'tok/s',
    batch: 4,
    seq: 128,
    labels: 0,
    // HuggingFaceTB/SmolLM2-135M's config.json.
    config: {
      model_type: 'llama', num_hidden_layers: 30, hidden_size: 576, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536,
      vocab_size: 49152, max_position_embeddings: 8192, rope_theta: 100000, rms_norm_eps: 1e-5, tie_word_embeddings: true, hidden_act: 'silu',
      initializer_range: 0.041666666666666664, attention_bias: false, mlp_bias: false,
    },
    keys: { layers: 'num_hidden_layers', hidden: 'hidden_size', heads: 'num_attention_heads', inner: 'intermediate_size', vocab: 'vocab_size', kvHeads: 'num_key_value_heads' },
    // PEFT's default LoRA targets for Llama.
    lora: { target_modules: ['q_proj', 'v_proj'] },
    peer: 'llama.py',
  },
  'bert-base': {
    title: 'BERT base (BertForSequenceClassification, exact gelu)',
    unit: 'samples/s',
    batch: 8,
    seq: 128,
    labels: 2,
    config: {
      model_type: 'bert', ...ENCODER, vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2,
      layer_norm_eps: 1e-12, hidden_dropout_prob: 0.1, attention_probs_dropout_prob: 0.1,
    },
    keys: BERT_KEYS,
    lora: CLASSIFIER_LORA,
    peer: 'bert.py',
  },
  'vit-b16': {
    title: 'ViT-B/16 (ViTForImageClassification, exact gelu)',
    unit: 'samples/s',
    batch: 4,
    seq: 197,
    labels: 10,
    config: {
      model_type: 'vit', ...ENCODER, image_size: 224, patch_size: 16, num_channels: 3, qkv_bias: true,
      layer_norm_eps: 1e-12, hidden_dropout_prob: 0, attention_probs_dropout_prob: 0,
    },
    keys: { ...BERT_KEYS, vocab: undefined },
    lora: CLASSIFIER_LORA,
    peer: 'vit.py',
  },
};

export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

/** What a worker and the peer need: the preset, its resolved config, tokens per sample. */
export interface PresetJob {
  name: PresetName;
  config: HfConfig;
  seq: number;
  labels: number;
}

export interface PresetOverrides {
  layers?: number;
  /** Width; heads default to width / 64 and the MLP to 4 × width. */
  dModel?: number;
  heads?: number;
  vocab?: number;
  seq?: number;
  /** ViT only: image side in pixels. */
  image?: number;
}

export function presetJob(name: string, o: PresetOverrides = {}): PresetJob {
  const preset = PRESETS[name as PresetName];
  if (!preset) throw new Error(`Unknown preset "${name}"; choose one of ${PRESET_NAMES.join(', ')}`);
  const k = preset.keys;
  const config: HfConfig = { ...preset.config };
  if (o.layers) config[k.layers] = o.layers;
  if (o.dModel) Object.assign(config, { [k.hidden]: o.dModel, [k.inner]: 4 * o.dModel, [k.heads]: Math.max(1, Math.round(o.dModel / 64)) });
  if (o.heads) config[k.heads] = o.heads;
  if (o.vocab && k.vocab) config[k.vocab] = o.vocab;
  if (k.kvHeads && (config[k.heads] as number) % (config[k.kvHeads] as number) !== 0) config[k.kvHeads] = config[k.heads];
  let seq = o.seq ?? preset.seq;
  if (name === 'vit-b16') {
    if (o.image) config.image_size = o.image;
    seq = ((config.image_size as number) / (config.patch_size as number)) ** 2 + 1;
  }
  return { name: name as PresetName, config, seq, labels: preset.labels };
}

/** One line saying what runs: model, its shape, the batch. */
export function describePreset(job: PresetJob, batch: number): string {
  const c = job.config;
  const k = PRESETS[job.name].keys;
  const vocab = k.vocab ? `, vocab ${c[k.vocab]}` : `, image ${c.image_size}×${c.image_size}×${c.num_channels}, patch ${c.patch_size}`;
  const labels = job.labels ? `, ${job.labels} labels` : '';
  return `${PRESETS[job.name].title}: ${c[k.layers]} layers, d ${c[k.hidden]}, ${c[k.heads]} heads, MLP ${c[k.inner]}${vocab}, seq ${job.seq}${labels}, batch ${batch}`;
}

/**
 * Counter-based 32-bit hash of (stream, step, i): the same numbers in JS and in the peer
 * (peer/common.py), so every arm trains on the very same random batch at each step.
 */
export function hashStream(stream: number, step: number, count: number): Uint32Array {
  const out = new Uint32Array(count);
  const base = Math.imul(step, 0x9e3779b1) ^ Math.imul(stream, 0x85ebca6b);
  for (let i = 0; i < count; i++) {
    let h = (i + base) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h ^= h >>> 16;
    h = Math.imul(h, 0x45d9f3b) >>> 0;
    h ^= h >>> 16;
    out[i] = h >>> 0;
  }
  return out;
}

const intsBelow = (stream: number, step: number, count: number, n: number) => Int32Array.from(hashStream(stream, step, count), (h) => h % n);

/** Step `step`'s batch: ids (or NHWC pixels in [-1, 1)) and labels, from the shared hash. */
export function presetBatch(job: PresetJob, batch: number, step: number): Batch {
  const c = job.config;
  if (job.name === 'vit-b16') {
    const side = c.image_size as number;
    const channels = c.num_channels as number;
    const h = hashStream(1, step, batch * side * side * channels);
    const pixels = Float32Array.from(h, (v) => (v / 2 ** 32) * 2 - 1);
    return { inputs: { pixel_values: tf.tensor4d(pixels, [batch, side, side, channels]) }, targets: tf.tensor1d(intsBelow(2, step, batch, job.labels), 'int32'), size: batch };
  }
  const vocab = c[PRESETS[job.name].keys.vocab!] as number;
  const input_ids = tf.tensor2d(intsBelow(1, step, batch * job.seq, vocab), [batch, job.seq], 'int32');
  const attention_mask = tf.ones([batch, job.seq], 'int32');
  if (CAUSAL_LMS.includes(job.name)) return { inputs: { input_ids, attention_mask }, size: batch };
  return { inputs: { input_ids, attention_mask, token_type_ids: tf.zeros([batch, job.seq], 'int32') }, targets: tf.tensor1d(intsBelow(2, step, batch, job.labels), 'int32'), size: batch };
}

/** The hf plugin's model class for the preset, its dims read through ConfigReader as the loader does. */
export function presetLoadedModel(job: PresetJob): LoadedModel {
  const config = new ConfigReader(job.config, `preset ${job.name}`);
  const inputs = (b: Batch) => b.inputs as Record<string, tf.Tensor>;
  let module: Module;
  let logitsLoss: (b: Batch) => tf.Scalar;
  if (job.name === 'gpt2-small') {
    const m = new Gpt2LMHeadModel(gpt2Dims(config));
    logitsLoss = (b) => m.loss(inputs(b).input_ids, inputs(b).attention_mask);
    module = m;
  } else if (job.name === 'smollm2-135m') {
    const m = new LlamaForCausalLM(llamaDims(config, 'llama'));
    logitsLoss = (b) => m.loss(inputs(b).input_ids, inputs(b).attention_mask);
    module = m;
  } else if (job.name === 'bert-base') {
    const m = new BertForSequenceClassification(bertDims(config, false), job.labels);
    const i = (b: Batch) => ({ inputIds: inputs(b).input_ids, attentionMask: inputs(b).attention_mask, tokenTypeIds: inputs(b).token_type_ids });
    logitsLoss = (b) => softmaxCrossEntropyWithLabels(m.forward(i(b)), b.targets!);
    module = m;
  } else {
    const m = new VitForImageClassification(vitDims(config), job.labels);
    logitsLoss = (b) => softmaxCrossEntropyWithLabels(m.forward(inputs(b).pixel_values), b.targets!);
    module = m;
  }
  return {
    name: job.name,
    arch: job.config.model_type as string,
    module,
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => logitsLoss(batch));
    },
  };
}

/** Model loader for `{ name: 'bench-preset', preset: PresetJob }`. */
export const benchPresetPlugin = loaderPlugin('bench-preset', (spec) => presetLoadedModel(spec.preset as PresetJob));
