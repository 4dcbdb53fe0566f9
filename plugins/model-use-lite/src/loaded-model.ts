import { softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';
import { cutForTokens, TruncationTally, stackPoints, tableVocabulary, type Batch, type DataRecord, type LoadedModel, type Logger, type ModelPoints } from '@leantune/core';
import { USE_LITE_CONFIG, useLiteHeads, type UseLiteEncoder } from './model';
import type { UseLiteHead } from './spec';
import type { UseLiteTokenizer } from './tokenizer';

export const USE_LITE_ARCH = 'use-lite';

/** What `encode` puts in `Batch.inputs`. */
export interface UseLiteInputs {
  /** int32 [batch, seq]: token ids, 0 in padding (masked out). */
  ids: tf.Tensor2D;
  /** float32 [batch, seq]: 1 for a token, 0 for padding. */
  attentionMask: tf.Tensor2D;
}

export interface UseLiteModelOptions {
  head: UseLiteHead;
  /** Required for the classification head: its class names, in logit order. */
  labels?: string[];
  maxLength: number;
  log: Logger;
  name?: string;
  /** The files the tokenizer is read from (vocab.json), for model.points.tokenizer. */
  tokenizerFiles?: readonly string[];
}

/**
 * use-lite's extension points: virtual tokens before the first token (they take positions
 * 0..n-1 of the timing signal, are always attended and count in the mean pool), both
 * layers' hidden states (layer 0 reads 256 wide, writes 512) and key/value prefixes, and
 * the tokenizer. No generate (an encoder) and no exportMerged (its own format is a tfjs
 * graph model, which is not written back; `leantune merge` writes leantune's format).
 */
export function useLitePoints(encoder: UseLiteEncoder, tokenizer: UseLiteTokenizer, files: readonly string[]): ModelPoints {
  const { embeddingDim, hiddenDim, maxPositions } = USE_LITE_CONFIG;
  return {
    ...stackPoints(encoder.points, {
      embeddings: 'embeddings',
      layersAt: 'encoder.layer',
      layers: 2,
      dim: hiddenDim,
      heads: USE_LITE_CONFIG.numHeads,
      placement: 'prepend',
      vocabulary: tableVocabulary(encoder, 'embeddings.word_embeddings.weight'),
      maxPositions,
      entryDims: [embeddingDim, hiddenDim],
      embeddingDim,
      headShape: useLiteHeads,
    }),
    tokenizer: { encode: (text) => tokenizer.encode(text), decode: (ids) => tokenizer.decode(ids), files: [...files] },
  };
}

/**
 * Token ids per text, cut to maxLength; one warning per call lists what was cut, or, with a
 * tally, the tally counts every call and warns only at the first truncation.
 */
export function tokenizeBatch(tokenizer: UseLiteTokenizer, records: readonly DataRecord[], maxLength: number, log: Logger, tally?: TruncationTally): number[][] {
  const cut: string[] = [];
  const cutTexts: string[] = [];
  const charCut: string[] = [];
  let charLimit = 0;
  let longest = 0;
  const rows = records.map((r) => {
    if (typeof r.text !== 'string') throw new Error(`use-lite: record "${r.id}" has no text (record.text must be a string)`);
    // A huge text is cut to what maxLength tokens can cover before it is encoded (the encoder's cost grows with the text).
    const source = cutForTokens(r.text, maxLength);
    charLimit = source.charLimit;
    const ids = tokenizer.encode(source.text);
    if (ids.length <= maxLength && !source.cut) return ids;
    cut.push(r.id);
    cutTexts.push(r.text);
    if (source.cut) charCut.push(r.text);
    longest = Math.max(longest, ids.length);
    return ids.slice(0, maxLength);
  });
  const which = cut.slice(0, 5).join(', ') + (cut.length > 5 ? `, … (${cut.length - 5} more)` : '');
  const chars = charCut.length ? ` (${charCut.length} of them longer than ${charLimit} characters, cut to that before tokenising)` : '';
  const warning = `use-lite: ${cut.length} of ${records.length} texts are longer than maxLength ${maxLength} tokens (longest ${longest}) and were truncated${chars}: ${which}`;
  if (tally) tally.note(records.map((r) => r.text as string), cutTexts, { longest, maxLength, warning, charCut, charLimit });
  else if (cut.length) log.warn(warning);
  return rows;
}

/** Pads to the longest row (at least 1 position) with id 0 and mask 0. */
export function padBatch(rows: readonly number[][]): UseLiteInputs {
  const seq = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(rows.length * seq);
  const mask = new Float32Array(rows.length * seq);
  rows.forEach((row, b) => {
    ids.set(row, b * seq);
    mask.fill(1, b * seq, b * seq + row.length);
  });
  return { ids: tf.tensor2d(ids, [rows.length, seq], 'int32'), attentionMask: tf.tensor2d(mask, [rows.length, seq], 'float32') };
}

function inputsOf(batch: Batch): UseLiteInputs {
  const inputs = batch.inputs as Partial<UseLiteInputs>;
  if (!inputs || !(inputs.ids instanceof tf.Tensor) || !(inputs.attentionMask instanceof tf.Tensor)) {
    throw new Error('use-lite: batch.inputs must be { ids, attentionMask } as produced by this model\'s encode()');
  }
  return inputs as UseLiteInputs;
}

/** Wraps the encoder as a core LoadedModel with an `embedding` or a `classification` head. */
export function createUseLiteModel(encoder: UseLiteEncoder, tokenizer: UseLiteTokenizer, options: UseLiteModelOptions): LoadedModel {
  const { head, maxLength, log } = options;
  const labels = options.labels;
  if (head === 'classification') {
    if (!labels || labels.length < 2) throw new Error('use-lite: the classification head needs at least 2 labels (model option "labels", or a dataset with labels)');
    encoder.addClassifier(labels.length);
  }
  const labelIndex = (r: DataRecord): number => {
    const i = labels!.indexOf(String(r.label));
    if (i < 0) throw new Error(`use-lite: record "${r.id}" has label "${String(r.label)}", not one of the model's labels: ${labels!.join(', ')}`);
    return i;
  };
  // Every batch of long texts would warn again: one warning per model, and the run's total from truncation().
  const truncation = new TruncationTally(log);
  const model: LoadedModel = {
    name: options.name ?? USE_LITE_ARCH,
    arch: USE_LITE_ARCH,
    module: encoder,
    labels: head === 'classification' ? [...labels!] : undefined,
    // The classifier is new (the package ships the encoder only); the embedding head has no weights.
    freshParameters: head === 'classification' ? [...encoder.child('classifier')!.namedParameters()].map(([p]) => `classifier.${p}`) : [],
    taskType: head === 'classification' ? 'SEQ_CLS' : 'FEATURE_EXTRACTION',
    points: useLitePoints(encoder, tokenizer, options.tokenizerFiles ?? []),
    meta: { head, maxLength, vocabSize: tokenizer.vocabSize },
    encode(records): Batch {
      const inputs = padBatch(tokenizeBatch(tokenizer, records, maxLength, log, truncation));
      const labelled = head === 'classification' && records.length > 0 && records.every((r) => r.label !== undefined);
      const targets = labelled ? tf.tensor1d(records.map(labelIndex), 'int32') : undefined;
      return { inputs: inputs as unknown as Record<string, tf.Tensor>, targets, size: records.length };
    },
    truncation: () => truncation.report(),
    predict(batch): tf.Tensor {
      encoder.eval();
      const { ids, attentionMask } = inputsOf(batch);
      if (head === 'embedding') {
        return tf.tidy(() => encoder.forward(ids, attentionMask).embedding);
      }
      return tf.tidy(() => tf.softmax(encoder.logits(ids, attentionMask)));
    },
  };
  if (head === 'classification') {
    model.loss = (batch, training) => {
      encoder.train(training);
      if (!batch.targets) throw new Error('use-lite: loss needs batch.targets (encode records that all have a label)');
      const { ids, attentionMask } = inputsOf(batch);
      return tf.tidy(() => {
        return softmaxCrossEntropyWithLabels(encoder.logits(ids, attentionMask), batch.targets!);
      });
    };
  }
  return model;
}
