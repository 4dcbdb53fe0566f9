import type { Batch, DataRecord, LoadedModel, Logger, ModelPoints, TruncationTally } from '@leantune/core';
import type { Module, tf } from '@leantune/tensor';
import type { ConfigReader } from './config';
import type { Lazy } from './side-files';
import type { HfTokenizer } from './tokenizer';
import type { ModelOutputs, OutputName, OutputsSpec } from './outputs';
import type { WeightLoadOptions } from './weights';

export interface BuildContext {
  dir: string;
  config: ConfigReader;
  log: Logger;
  /** Labels the caller gave (spec.labels), if any. */
  specLabels?: string[];
  /** CLIP zero-shot prompt, "{}" standing for the label (spec.promptTemplate). */
  promptTemplate: string;
  /** Texts are cut to this many tokens (spec.maxLength), at most the position embeddings' length. */
  maxLength?: number;
  /** Counts truncated texts over every batch (one warning per model; the total at the run's end). */
  truncation: TruncationTally;
  /**
   * Labels for a classification head: the caller's, else config.json's id2label, else
   * num_labels (default 2) generic names. headFresh: the caller's count differs from the
   * checkpoint's, so the head is rebuilt rather than loaded.
   */
  resolveLabels(): { labels: string[]; headFresh: boolean };
  /** The checkpoint holds this tensor (index or header only; nothing is read). */
  hasTensor(name: string): boolean;
}

/** What an architecture builder returns; the loader adds weights and packs a LoadedModel. */
export interface ArchBuild {
  arch: string;
  /** The transformers class built, e.g. "RobertaModel", "ViTForImageClassification". */
  className: string;
  /** PEFT's task_type for adapter_config.json; null where PEFT has none (image classifiers). */
  taskType: string | null;
  /** The outputs `model.outputs()` gives, under transformers' names. */
  outputs: OutputsSpec;
  module: Module;
  labels?: string[];
  /** tokenizer.json, read on first use (text given). */
  tokenizer?: Lazy<HfTokenizer>;
  /** Longest token sequence the position embeddings allow. */
  maxTokens?: number;
  weights: Omit<WeightLoadOptions, 'configSummary'>;
  summary: string;
  /** LoadedModel.checkRecord: why a record cannot be encoded (an unusable image), checked before a run folder. */
  checkRecord?(record: DataRecord): string | undefined;
  encode(records: readonly DataRecord[]): Batch;
  loss?(batch: Batch, training: boolean): tf.Scalar;
  predict?(batch: Batch): tf.Tensor;
  /** Extension points and capabilities (LoadedModel.points). */
  points: ModelPoints;
  meta?: Record<string, unknown>;
}

export type HfLoadedModel = LoadedModel & {
  tokenizer?: HfTokenizer;
  maxTokens?: number;
  /** The transformers class this model is, e.g. "BertModel", "GPT2LMHeadModel". */
  className: string;
  /** The output names `outputs()` gives. */
  outputNames: readonly OutputName[];
  /**
   * transformers' outputs of a batch (`encode(records)` or inputs built by hand), in eval mode:
   * only `names` (default all the model gives). The caller disposes them.
   */
  outputs(batch: Batch, names?: readonly string[]): ModelOutputs;
};
