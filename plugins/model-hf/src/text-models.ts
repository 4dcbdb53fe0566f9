import { stackPoints, tableVocabulary, type Batch, type DataRecord, type GenerateCapability } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { BertForSequenceClassification, RobertaForSequenceClassification, bertDims, bertMaxTokens, type BertInputs, type BertModel } from './arch/bert';
import { Gpt2Cache, Gpt2LMHeadModel, causalLmLoss, gpt2Dims, type Gpt2Model } from './arch/gpt2';
import type { ArchBuild, BuildContext } from './loader-types';
import { crossEntropy, labelTargets, textsOf } from './records';
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

/** BERT and RoBERTa sequence classification: `classifier` on the pooled / <s> token. */
export function buildBertLike(ctx: BuildContext, roberta: boolean): ArchBuild {
  const dims = bertDims(ctx.config, roberta);
  const { labels, headFresh } = ctx.resolveLabels();
  const module = roberta ? new RobertaForSequenceClassification(dims, labels.length) : new BertForSequenceClassification(dims, labels.length);
  const prefix = roberta ? 'roberta' : 'bert';
  const maxTokens = bertMaxTokens(dims);
  const tokenizer = lazyTokenizer(ctx.dir, dims.paddingIdx ?? ctx.config.optionalInt('pad_token_id') ?? 0, roberta ? 'RoBERTa' : 'BERT');
  const forward = (batch: Batch) => {
    const i = textInputs(batch);
    return module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids } satisfies BertInputs);
  };
  const base = module.child<BertModel>(prefix)!;
  return {
    arch: roberta ? 'roberta' : 'bert',
    module,
    labels,
    tokenizer,
    maxTokens,
    points: {
      ...stackPoints(base.points, {
        embeddings: `${prefix}.embeddings`,
        layersAt: `${prefix}.encoder.layer`,
        layers: dims.layers,
        dim: dims.hidden,
        heads: dims.heads,
        placement: 'prepend',
        vocabulary: tableVocabulary(module, `${prefix}.embeddings.word_embeddings.weight`),
        maxPositions: maxTokens,
      }),
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: {
      basePrefix: prefix,
      optional: roberta ? ['classifier.'] : ['classifier.', 'bert.pooler.'],
      skip: headFresh ? ['classifier.'] : [],
    },
    summary: `hidden_size ${dims.hidden}, num_hidden_layers ${dims.layers}, vocab_size ${dims.vocabSize}`,
    encode: (records) => ({ inputs: encodeText(tokenizer, records, maxTokens, ctx), targets: labelTargets(records, labels), size: records.length }),
    loss(batch, training) {
      module.train(training);
      if (!batch.targets) throw new Error('loss() needs labelled records; every record must have a label');
      return tf.tidy(() => crossEntropy(forward(batch), batch.targets!));
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(forward(batch)));
    },
  };
}

/** GPT-2 causal LM: logits from the tied `wte`, next-token cross-entropy. */
export function buildGpt2(ctx: BuildContext): ArchBuild {
  const dims = gpt2Dims(ctx.config);
  const module = new Gpt2LMHeadModel(dims);
  const padFallback = ctx.config.optionalInt('pad_token_id') ?? ctx.config.optionalInt('eos_token_id') ?? 0;
  const tokenizer = lazyTokenizer(ctx.dir, padFallback, 'GPT-2');
  const base = module.child<Gpt2Model>('transformer')!;
  return {
    arch: 'gpt2',
    module,
    tokenizer,
    maxTokens: dims.positions,
    points: {
      ...stackPoints(base.points, {
        embeddings: 'transformer.wte',
        layersAt: 'transformer.h',
        layers: dims.layers,
        dim: dims.embd,
        heads: dims.heads,
        placement: 'prepend',
        vocabulary: tableVocabulary(module, 'transformer.wte.weight'),
        maxPositions: dims.positions,
      }),
      tokenizer: tokenizerCapability(tokenizer, ctx.dir),
      generate: gpt2Generate(module),
      exportMerged: (out, options) => exportHubFolder(options.module, ctx.dir, out, options.labels),
    },
    weights: { basePrefix: 'transformer' },
    summary: `n_embd ${dims.embd}, n_layer ${dims.layers}, vocab_size ${dims.vocabSize}, n_positions ${dims.positions}`,
    encode(records) {
      const { input_ids, attention_mask, token_type_ids } = encodeText(tokenizer, records, dims.positions, ctx);
      token_type_ids.dispose();
      return { inputs: { input_ids, attention_mask }, size: records.length };
    },
    loss(batch, training) {
      module.train(training);
      const i = textInputs(batch);
      return tf.tidy(() => causalLmLoss(module.forward(i.input_ids, i.attention_mask), i.input_ids, i.attention_mask));
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
