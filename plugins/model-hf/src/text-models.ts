import { stackPoints, tableVocabulary, type Batch, type DataRecord, type GenerateCapability } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { BertForSequenceClassification, BertModel, RobertaForSequenceClassification, bertDims, bertMaxTokens, type BertInputs } from './arch/bert';
import { Gpt2Cache, Gpt2LMHeadModel, Gpt2Model, causalLmLoss, gpt2Dims } from './arch/gpt2';
import { call } from './attention';
import { withHiddenStates, type ModelOutputs, type OutputName, type OutputsSpec } from './outputs';
import type { ArchBuild, BuildContext } from './loader-types';
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

/** GPT-2: `GPT2LMHeadModel` (logits from the tied `wte`, next-token cross-entropy), or with `base` the bare `GPT2Model`. */
export function buildGpt2(ctx: BuildContext, base = false): ArchBuild {
  const dims = gpt2Dims(ctx.config);
  const module = base ? new Gpt2Model(dims) : new Gpt2LMHeadModel(dims);
  const at = base ? '' : 'transformer.';
  const padFallback = ctx.config.optionalInt('pad_token_id') ?? ctx.config.optionalInt('eos_token_id') ?? 0;
  const tokenizer = lazyTokenizer(ctx.dir, padFallback, 'GPT-2');
  const bare = base ? (module as Gpt2Model) : module.child<Gpt2Model>('transformer')!;
  const outputs: OutputsSpec = {
    names: [...(base ? [] : (['logits'] as const)), 'last_hidden_state', 'hidden_states'],
    compute: (batch, want) =>
      tf.tidy(() => {
        const i = textInputs(batch);
        const { result: h, hidden } = withHiddenStates(bare.points, dims.layers, want.has('hidden_states'), () => bare.forward(i.input_ids, i.attention_mask));
        // transformers' last entry is after ln_f (= last_hidden_state), the others are block outputs.
        if (hidden.length) {
          const last = hidden[dims.layers];
          hidden[dims.layers] = tf.keep(call(bare, 'ln_f', last));
          last.dispose();
        }
        const out: ModelOutputs = { last_hidden_state: tf.keep(h), hidden_states: hidden };
        if (!base) out.logits = tf.keep((module as Gpt2LMHeadModel).logitsFrom(h));
        return out;
      }),
  };
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
      ...(base ? {} : { generate: gpt2Generate(module as Gpt2LMHeadModel) }),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: base ? { taskPrefix: 'transformer' } : { basePrefix: 'transformer' },
    summary: `n_embd ${dims.embd}, n_layer ${dims.layers}, vocab_size ${dims.vocabSize}, n_positions ${dims.positions}`,
    encode(records) {
      const { input_ids, attention_mask, token_type_ids } = encodeText(tokenizer, records, dims.positions, ctx);
      token_type_ids.dispose();
      return { inputs: { input_ids, attention_mask }, size: records.length };
    },
    loss: base
      ? undefined
      : (batch, training) => {
          module.train(training);
          const i = textInputs(batch);
          return tf.tidy(() => causalLmLoss((module as Gpt2LMHeadModel).forward(i.input_ids, i.attention_mask), i.input_ids, i.attention_mask));
        },
  };
}

/**
 * Greedy/sampled continuation of GPT-2 (the caller's `pick`), with the registered virtual
 * tokens and prefixes. With the cache (default) each step runs only the new token; without,
 * it runs the whole context. Past n_positions both keep the last tokens that fit (after
 * the virtual ones) and start again from them, so both give the same tokens.
 */
export function gpt2Generate(module: Gpt2LMHeadModel): GenerateCapability {
  return (promptIds, options) => {
    if (!promptIds.length) throw new Error('generate: the prompt has no tokens; give some text');
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) throw new Error(`generate: maxTokens must be a positive integer, got ${options.maxTokens}`);
    module.eval();
    const base = module.child<Gpt2Model>('transformer')!;
    const positions = module.dims.positions;
    const window = positions - base.virtualTokenCount();
    if (window < 1) throw new Error(`generate: the ${positions - window} virtual tokens fill all n_positions ${positions}; use a shorter prompt`);
    const useCache = options.cache ?? true;
    const ids = [...promptIds];
    const added: number[] = [];
    const cache = new Gpt2Cache();
    const lastLogits = (input: number[], withCache?: Gpt2Cache) =>
      tf.tidy(() => {
        const logits = module.forward(tf.tensor2d([input], [1, input.length], 'int32'), undefined, withCache);
        return tf.squeeze(tf.slice(logits, [0, input.length - 1, 0], [1, 1, -1])).dataSync() as Float32Array;
      });
    try {
      for (let step = 0; step < options.maxTokens; step++) {
        let row: Float32Array;
        if (!useCache) row = lastLogits(ids.slice(-window));
        else if (cache.length > 0 && cache.length < positions) row = lastLogits([ids[ids.length - 1]], cache);
        else {
          cache.dispose();
          row = lastLogits(ids.slice(-window), cache);
        }
        const next = options.pick(row, step);
        if (next === options.stopToken) break;
        ids.push(next);
        added.push(next);
        options.onToken?.(next);
      }
    } finally {
      cache.dispose();
    }
    return added;
  };
}
