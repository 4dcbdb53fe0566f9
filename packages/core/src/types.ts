import type { Module, tf } from '@leantune/tensor';
import type { RunContext } from './context';
import type { ModelPoints } from './model-points';
import type { TruncationReport } from './truncation';

/** What the config's `model` names; loaders decide whether they recognise it. */
export interface ModelSpec {
  name: string;
  [option: string]: unknown;
}

/** A batch of model inputs and targets, produced by a model's `encode`. */
export interface Batch {
  inputs: tf.Tensor | Record<string, tf.Tensor>;
  targets?: tf.Tensor;
  size: number;
}

/** A model a loader produced: the module tree plus what the trainer needs to use it. */
export interface LoadedModel {
  name: string;
  /** Architecture key for methods' default targets, e.g. 'gpt2', 'bert', 'use-lite'. */
  arch: string;
  module: Module;
  /** Name of the loader that produced it; filled in by the run. */
  loader?: string;
  /** Class names of a classification head, when there is one. */
  labels?: string[];
  /**
   * Parameters the loader initialised itself (not from pretrained weights), e.g. a new
   * classifier head. Loading adapters warns for each one that nothing restored.
   */
  freshParameters?: string[];
  /**
   * Module names methods adapt by default when they have no table for this architecture
   * (e.g. a test model's `['dense']`): the model says where, so no method lists test models.
   */
  defaultTargets?: readonly string[];
  /**
   * Module paths of the model's repeated blocks (a transformer layer, a CNN's residual
   * block): where a method that adds a layer after a whole block (bottleneck adapters) goes
   * when it has no table for this architecture. Absent: such methods use `defaultTargets`.
   */
  blockTargets?: readonly string[];
  /** What the model does, as PEFT's task_type names it ("SEQ_CLS", "CAUSAL_LM", "FEATURE_EXTRACTION", …). */
  taskType?: string | null;
  /**
   * Why this model cannot take `record` (e.g. "image has 2 channels; give 1 (grey), 3 (RGB)
   * or 4 (RGBA)"), or undefined when it can. The run calls it on every record while
   * preparing data, before a run folder exists, so an unusable record is reported with its
   * id instead of failing a batch mid-run.
   */
  checkRecord?(record: DataRecord): string | undefined;
  encode?(records: readonly DataRecord[]): Batch;
  loss?(batch: Batch, training: boolean): tf.Scalar;
  predict?(batch: Batch): tf.Tensor;
  /** Texts `encode` cut to the model's maximum length so far (a TruncationTally's report); undefined when none. */
  truncation?(): TruncationReport | undefined;
  /** Extension points and capabilities the model offers methods and commands (model-points.ts); absent: none. */
  points?: ModelPoints;
  meta?: Record<string, unknown>;
}

export interface DatasetSpec {
  name: string;
  [option: string]: unknown;
}

/** Where a record came from, so every drop or change can be traced to a source row. */
export interface Provenance {
  source: string;
  row: number;
  [key: string]: unknown;
}

export interface DataRecord {
  id: string;
  text?: string;
  image?: unknown;
  label?: string | number;
  labels?: Array<string | number>;
  /** A conversation for chat-format fine-tuning: role/content turns, rendered by the model's chat template. */
  messages?: Array<{ role: string; content: string }>;
  /**
   * A row already tokenised by the model (e.g. several conversations packed into one row by
   * model-hf's `chat-pack` stage): ids, and per id 1 where it is a training target.
   */
  tokens?: { ids: number[]; lossMask?: number[] };
  meta: Provenance;
}

/** What one dataset stage did: nothing is dropped without a counted reason. */
export interface StageReport {
  stage: string;
  plugin: string;
  in: number;
  out: number;
  changed: number;
  dropped: number;
  dropReasons: Record<string, number>;
  /** The file (or folder) the stage read, as the config names it: loaders set it. */
  source?: string;
  /** What `dropRows` numbers: 'line' (JSONL lines, 1-based) or 'row' (the default). */
  rowName?: string;
  /** Per drop reason, the first few rows it dropped (as the reader numbers them). */
  dropRows?: Record<string, number[]>;
  /** Per drop reason, the first few record ids it dropped (stages that drop records). */
  dropIds?: Record<string, string[]>;
  /** Per drop reason, the message of its first drop ("not valid JSON (Unexpected token …)"). */
  dropExamples?: Record<string, string>;
  /** Drop reasons the config asked for (a `limit`), not bad data: the console shows them as information. */
  requested?: string[];
  details?: Record<string, unknown>;
}

export interface Dataset {
  name: string;
  records: DataRecord[];
  /** Filled by a split stage; absent means "not split yet". */
  splits?: Record<string, DataRecord[]>;
  labels?: string[];
  reports: StageReport[];
  /**
   * An augmentation policy set by an augment stage: the trainer applies it to training
   * records as each batch is built, with an rng seeded from (run seed, epoch, sample index).
   * Validation and test records are never passed through it. Must not modify its input.
   */
  augment?: RecordAugmenter;
}

/** Returns an augmented copy of a training record; `rng` gives floats in [0, 1). */
export type RecordAugmenter = (record: DataRecord, rng: () => number) => DataRecord;

export type Metrics = Record<string, number>;

export interface StepLogs {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  [extra: string]: number;
}

export interface EpochLogs {
  epoch: number;
  trainLoss: number;
  eval?: Metrics;
}

/** An evaluation between epoch ends (train.evalEvery). */
export interface EvalLogs {
  epoch: number;
  step: number;
  eval: Metrics;
}

export interface TrainState {
  run: RunContext;
  model: LoadedModel;
  epoch: number;
  step: number;
  totalSteps?: number;
  stopRequested: boolean;
}

/** Files a run writes, by role, so reporters can find them. */
export interface Artifacts {
  dir: string;
  files: Record<string, string>;
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug?(message: string): void;
}
