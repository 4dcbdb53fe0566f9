import { stackPoints, tableVocabulary, type Batch, type ChatCapability, type DataRecord, type GenerateCapability } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { BertForSequenceClassification, BertModel, RobertaForSequenceClassification, bertDims, bertMaxTokens, type BertInputs } from './arch/bert';
import { Gpt2LMHeadModel, Gpt2Model, gpt2Dims } from './arch/gpt2';
import { causalGenerate } from './generate';
import { LlamaForCausalLM, LlamaModel, llamaDims, type LlamaFamily } from './arch/llama';
import { call } from './attention';
import { withHiddenStates, type ModelOutputs, type OutputName, type OutputsSpec } from './outputs';
import type { ArchBuild, BuildContext } from './loader-types';
import { chatCapability, encodeChatRecords, isChatBatch } from './chat';
import { classifierHead, labelTargets, textsOf } from './records';
import { exportHubFolder, tokenizerCapability } from './points';
import { lazyTokenizer, type Lazy } from './side-files';
import type { HfTokenizer } from './tokenizer';

function textInputs(batch: Batch): Record<string, tf.Tensor> {
  const inputs = batch.inputs as Record<string, tf.Tensor>;
  if (!inputs.input_ids || !inputs.attention_mask) throw new Error('Batch inputs must hold input_ids and attention_mask; build it with the model\'s encode()');
  return inputs;
}

function encodeText(tokenizer: Lazy<HfTokenizer>, records: readonly DataRecord[], maxTokens: number, ctx: BuildContext) {
  const enc = tokenizer().encodeBatch(textsOf(records), Math.min(maxTokens, ctx.maxLength ?? maxTokens), ctx.log, ctx.truncation);
  const shape: [number, number] = [records.length, enc.ids[0].length];
  return {
    input_ids: tf.tensor2d(enc.ids, shape, 'int32'),
    attention_mask: tf.tensor2d(enc.attentionMask, shape, 'int32'),
    token_type_ids: tf.tensor2d(enc.tokenTypeIds, shape, 'int32'),
  };
}

function bertInputs(batch: Batch): BertInputs {
  const i = textInputs(batch);
  return { inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids };
}

/**
 * BERT and RoBERTa: `BertForSequenceClassification` (`classifier` on the pooler) /
 * `RobertaForSequenceClassification` (`classifier` on <s>), or with `base` the bare
 * `BertModel` / `RobertaModel` (transformers' unprefixed keys), with the pooler when the
 * checkpoint holds `pooler.dense.*`.
 */
export function buildBertLike(ctx: BuildContext, roberta: boolean, base = false): ArchBuild {
  const dims = bertDims(ctx.config, roberta);
  const prefix = roberta ? 'roberta' : 'bert';
  const withPooler = base && (ctx.hasTensor('pooler.dense.weight') || ctx.hasTensor(`${prefix}.pooler.dense.weight`));
  const { labels, headFresh } = base ? { labels: undefined, headFresh: false } : ctx.resolveLabels();
  const module = base ? new BertModel(dims, withPooler) : roberta ? new RobertaForSequenceClassification(dims, labels!.length) : new BertForSequenceClassification(dims, labels!.length);
  const at = base ? '' : `${prefix}.`;
  const maxTokens = bertMaxTokens(dims);
  const tokenizer = lazyTokenizer(ctx.dir, dims.paddingIdx ?? ctx.config.optionalInt('pad_token_id') ?? 0, roberta ? 'RoBERTa' : 'BERT');
  const forward = (batch: Batch) => module.forward(bertInputs(batch)) as tf.Tensor;
  const bare = base ? (module as BertModel) : module.child<BertModel>(prefix)!;
  const pooler = base ? (withPooler ? bare.child('pooler') : undefined) : roberta ? undefined : bare.child('pooler');
  const names: OutputName[] = [...(base ? [] : (['logits'] as const)), 'last_hidden_state', ...(pooler ? (['pooler_output'] as const) : []), 'hidden_states'];
  const outputs: OutputsSpec = {
    names,
    compute: (batch, want) =>
      tf.tidy(() => {
        const { result: h, hidden } = withHiddenStates(bare.points, dims.layers, want.has('hidden_states'), () => bare.forward(bertInputs(batch)));
        const out: ModelOutputs = { last_hidden_state: h, hidden_states: hidden };
        if (pooler) out.pooler_output = pooler.forward(h) as tf.Tensor;
        if (!base) out.logits = roberta ? call(module, 'classifier', h) : call(module, 'classifier', out.pooler_output);
        for (const t of hidden) tf.keep(t);
        return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Array.isArray(v) ? v : tf.keep(v)])) as ModelOutputs;
      }),
  };
  return {
    arch: roberta ? 'roberta' : 'bert',
    className: `${roberta ? 'Roberta' : 'Bert'}${base ? 'Model' : 'ForSequenceClassification'}`,
    taskType: base ? 'FEATURE_EXTRACTION' : 'SEQ_CLS',
    module,
    labels,
    tokenizer,
    maxTokens,
    outputs,
    points: {
      ...stackPoints(bare.points, {
        embeddings: `${at}embeddings`,
        layersAt: `${at}encoder.layer`,
        layers: dims.layers,
        dim: dims.hidden,
        heads: dims.heads,
        placement: 'prepend',
        vocabulary: tableVocabulary(module, `${at}embeddings.word_embeddings.weight`),
        maxPositions: maxTokens,
      }),
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: base
      ? { taskPrefix: prefix }
      : {
          basePrefix: prefix,
          optional: roberta ? ['classifier.'] : ['classifier.', 'bert.pooler.'],
          skip: headFresh ? ['classifier.'] : [],
        },
    summary: `hidden_size ${dims.hidden}, num_hidden_layers ${dims.layers}, vocab_size ${dims.vocabSize}`,
    encode: (records) => ({ inputs: encodeText(tokenizer, records, maxTokens, ctx), targets: labels ? labelTargets(records, labels) : undefined, size: records.length }),
    ...(base ? {} : classifierHead(module, forward)),
  };
}

/**
 * A decoder's outputs: last_hidden_state (after the final norm `norm`), hidden_states as
 * transformers gives them (embeddings, each layer's output, the last one after `norm`), and
 * with `logitsFrom` (the LM head) logits.
 */
function decoderOutputs(bare: Gpt2Model | LlamaModel, layers: number, norm: string, logitsFrom?: (h: tf.Tensor) => tf.Tensor): OutputsSpec {
  return {
    names: [...(logitsFrom ? (['logits'] as const) : []), 'last_hidden_state', 'hidden_states'],
    compute: (batch, want) =>
      tf.tidy(() => {
        const i = textInputs(batch);
        const { result: h, hidden } = withHiddenStates(bare.points, layers, want.has('hidden_states'), () => bare.forward(i.input_ids, i.attention_mask));
        if (hidden.length) {
          const last = hidden[layers];
          hidden[layers] = tf.keep(call(bare, norm, last));
          last.dispose();
        }
        const out: ModelOutputs = { last_hidden_state: tf.keep(h), hidden_states: hidden };
        if (logitsFrom) out.logits = tf.keep(logitsFrom(h));
        return out;
      }),
  };
}

/** Tokens per row of a causal LM: its positions, or fewer with the model spec's maxLength. */
function rowTokens(ctx: BuildContext, positions: number): number {
  return Math.min(positions, ctx.maxLength ?? positions);
}

/**
 * encode and loss of a decoder (GPT-2, the Llama family): text rows, or chat rows (records
 * with `messages`, or packed `tokens`) whose `loss_mask` keeps the loss on assistant tokens;
 * without an LM head (the base model) no loss and no chat.
 */
function causalLmTraining(ctx: BuildContext, tokenizer: Lazy<HfTokenizer>, positions: number, chat: ChatCapability | undefined, lm?: Gpt2LMHeadModel | LlamaForCausalLM) {
  return {
    encode(records: readonly DataRecord[]): Batch {
      if (lm && isChatBatch(records)) return { inputs: encodeChatRecords(chat, records, rowTokens(ctx, positions), tokenizer().padId, ctx.truncation), size: records.length };
      const { input_ids, attention_mask, token_type_ids } = encodeText(tokenizer, records, positions, ctx);
      token_type_ids.dispose();
      return { inputs: { input_ids, attention_mask }, size: records.length };
    },
    loss: lm
      ? (batch: Batch, training: boolean) => {
          lm.train(training);
          const i = textInputs(batch);
          return lm.loss(i.input_ids, i.attention_mask, i.loss_mask);
        }
      : undefined,
  };
}

/** GPT-2: `GPT2LMHeadModel` (logits from the tied `wte`, next-token cross-entropy), or with `base` the bare `GPT2Model`. */
export function buildGpt2(ctx: BuildContext, base = false): ArchBuild {
  const dims = gpt2Dims(ctx.config);
  const module = base ? new Gpt2Model(dims) : new Gpt2LMHeadModel(dims);
  const at = base ? '' : 'transformer.';
  const padFallback = ctx.config.optionalInt('pad_token_id') ?? ctx.config.optionalInt('eos_token_id') ?? 0;
  const tokenizer = lazyTokenizer(ctx.dir, padFallback, 'GPT-2');
  const chat = base ? undefined : chatCapability(ctx.dir, tokenizer, rowTokens(ctx, dims.positions));
  const bare = base ? (module as Gpt2Model) : module.child<Gpt2Model>('transformer')!;
  const outputs = decoderOutputs(bare, dims.layers, 'ln_f', base ? undefined : (h) => (module as Gpt2LMHeadModel).logitsFrom(h));
  return {
    arch: 'gpt2',
    className: base ? 'GPT2Model' : 'GPT2LMHeadModel',
    taskType: base ? 'FEATURE_EXTRACTION' : 'CAUSAL_LM',
    module,
    tokenizer,
    maxTokens: dims.positions,
    outputs,
    points: {
      ...stackPoints(bare.points, {
        embeddings: `${at}wte`,
        layersAt: `${at}h`,
        layers: dims.layers,
        dim: dims.embd,
        heads: dims.heads,
        placement: 'prepend',
        vocabulary: tableVocabulary(module, `${at}wte.weight`),
        maxPositions: dims.positions,
      }),
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      ...(base ? {} : { generate: gpt2Generate(module as Gpt2LMHeadModel), ...(chat ? { chat } : {}) }),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: base ? { taskPrefix: 'transformer' } : { basePrefix: 'transformer' },
    summary: `n_embd ${dims.embd}, n_layer ${dims.layers}, vocab_size ${dims.vocabSize}, n_positions ${dims.positions}`,
    ...causalLmTraining(ctx, tokenizer, dims.positions, chat, base ? undefined : (module as Gpt2LMHeadModel)),
  };
}

/** GPT-2's generate capability: greedy/sampled continuation within n_positions (see causalGenerate). */
export function gpt2Generate(module: Gpt2LMHeadModel): GenerateCapability {
  const base = module.child<Gpt2Model>('transformer')!;
  return causalGenerate(module, 'n_positions', module.dims.positions, () => base.virtualTokenCount());
}

/** transformers' class-name stem of each Llama-family model_type. */
export const LLAMA_CLASS_STEMS: Record<LlamaFamily, string> = { llama: 'Llama', qwen2: 'Qwen2', mistral: 'Mistral' };

/** eos_token_id may be one id or a list (Llama 3): the first. */
function firstTokenId(config: BuildContext['config'], key: string): number | undefined {
  const raw = config.raw[key];
  const id = Array.isArray(raw) ? raw[0] : raw;
  return Number.isInteger(id) && (id as number) >= 0 ? (id as number) : undefined;
}

/**
 * Llama, Qwen2 and Mistral decoders: `<Stem>ForCausalLM` (next-token cross-entropy, KV-cached
 * generation, lm_head tied to embed_tokens when tie_word_embeddings) or with `base` the bare
 * `<Stem>Model` (unprefixed keys).
 */
export function buildLlama(ctx: BuildContext, family: LlamaFamily, base = false): ArchBuild {
  const dims = llamaDims(ctx.config, family);
  const module = base ? new LlamaModel(dims) : new LlamaForCausalLM(dims);
  const at = base ? '' : 'model.';
  const padFallback = firstTokenId(ctx.config, 'pad_token_id') ?? firstTokenId(ctx.config, 'eos_token_id') ?? 0;
  const tokenizer = lazyTokenizer(ctx.dir, padFallback, LLAMA_CLASS_STEMS[family]);
  const bare = base ? (module as LlamaModel) : module.child<LlamaModel>('model')!;
  const lm = base ? undefined : (module as LlamaForCausalLM);
  const chat = lm ? chatCapability(ctx.dir, tokenizer, rowTokens(ctx, dims.positions)) : undefined;
  const outputs = decoderOutputs(bare, dims.layers, 'norm', lm && ((h) => lm.logitsFrom(h)));
  const stem = LLAMA_CLASS_STEMS[family];
  return {
    arch: family,
    className: `${stem}${base ? 'Model' : 'ForCausalLM'}`,
    taskType: base ? 'FEATURE_EXTRACTION' : 'CAUSAL_LM',
    module,
    tokenizer,
    maxTokens: dims.positions,
    outputs,
    points: {
      ...stackPoints(bare.points, {
        embeddings: `${at}embed_tokens`,
        layersAt: `${at}layers`,
        layers: dims.layers,
        dim: dims.hidden,
        heads: dims.heads,
        placement: 'prepend',
        vocabulary: tableVocabulary(module, `${at}embed_tokens.weight`),
        maxPositions: dims.positions,
        // Prefixes are past key/values: one per key/value head (grouped-query attention).
        headShape: () => ({ heads: dims.kvHeads, headDim: dims.headDim }),
      }),
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      ...(lm ? { generate: causalGenerate(lm, 'max_position_embeddings', dims.positions, () => bare.virtualTokenCount()), ...(chat ? { chat } : {}) } : {}),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: base ? { taskPrefix: 'model' } : { basePrefix: 'model' },
    summary: `hidden_size ${dims.hidden}, num_hidden_layers ${dims.layers}, num_attention_heads ${dims.heads}, num_key_value_heads ${dims.kvHeads}, vocab_size ${dims.vocabSize}, tie_word_embeddings ${dims.tieWordEmbeddings}`,
    ...causalLmTraining(ctx, tokenizer, dims.positions, chat, lm),
  };
}
