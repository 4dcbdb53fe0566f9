import type { Batch, DataRecord } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { BertForSequenceClassification, RobertaForSequenceClassification, bertDims, bertMaxTokens, type BertInputs } from './arch/bert';
import { Gpt2LMHeadModel, causalLmLoss, gpt2Dims } from './arch/gpt2';
import type { ArchBuild, BuildContext } from './loader-types';
import { crossEntropy, labelTargets, textsOf } from './records';
import { HfTokenizer } from './tokenizer';

function textInputs(batch: Batch): Record<string, tf.Tensor> {
  const inputs = batch.inputs as Record<string, tf.Tensor>;
  if (!inputs.input_ids || !inputs.attention_mask) throw new Error('Batch inputs must hold input_ids and attention_mask; build it with the model\'s encode()');
  return inputs;
}

function encodeText(tokenizer: HfTokenizer, records: readonly DataRecord[], maxTokens: number, ctx: BuildContext) {
  const enc = tokenizer.encodeBatch(textsOf(records), Math.min(maxTokens, ctx.maxLength ?? maxTokens), ctx.log, ctx.truncation);
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
  const tokenizer = HfTokenizer.load(ctx.dir, dims.paddingIdx ?? ctx.config.optionalInt('pad_token_id') ?? 0);
  const forward = (batch: Batch) => {
    const i = textInputs(batch);
    return module.forward({ inputIds: i.input_ids, attentionMask: i.attention_mask, tokenTypeIds: i.token_type_ids } satisfies BertInputs);
  };
  return {
    arch: roberta ? 'roberta' : 'bert',
    module,
    labels,
    tokenizer,
    maxTokens,
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
  const tokenizer = HfTokenizer.load(ctx.dir, padFallback);
  return {
    arch: 'gpt2',
    module,
    tokenizer,
    maxTokens: dims.positions,
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
