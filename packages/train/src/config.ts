import { ConfigError, RunError, type JSONSchema } from '@leantune/core';

/**
 * The config's `train` section, as this trainer reads it. The trainer registers the schema
 * (TrainDriver.configSchema), so a toolkit validates `train` against the trainer it runs.
 */
export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  momentum: number;
  schedule: { type: 'constant' | 'linear' | 'cosine'; warmupSteps: number; minLrRatio: number };
  gradAccum: number;
  clipNorm?: number;
  maxSteps?: number;
  checkpointEvery?: number;
  /** Activation checkpointing per transformer block (transformers' gradient_checkpointing). */
  gradientCheckpointing: boolean;
  earlyStopping?: { metric: string; patience: number; minDelta: number; mode: 'min' | 'max' };
  /** Evaluate on the validation split every N optimizer steps, besides after each epoch. */
  evalEvery?: number;
  /** 'epoch': evaluate after each epoch; 'end': only once training ends (transformers' eval_strategy). */
  evalStrategy: 'epoch' | 'end';
  /** Keep the weights of the best evaluation by `metric` (transformers' load_best_model_at_end). */
  saveBest?: { metric: string; mode: 'min' | 'max' };
}

/** JSON Schema of `train`: the second validation pass fills these defaults. */
export const trainConfigSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  default: {},
  properties: {
    epochs: { type: 'integer', minimum: 1, maximum: 1000000, default: 1 },
    batchSize: { type: 'integer', minimum: 1, maximum: 1048576, default: 16 },
    learningRate: { type: 'number', exclusiveMinimum: 0, maximum: 100, default: 0.001 },
    optimizer: { enum: ['adamw', 'sgd'], default: 'adamw' },
    weightDecay: { type: 'number', minimum: 0, maximum: 100, default: 0 },
    momentum: { type: 'number', minimum: 0, maximum: 1, default: 0.9 },
    schedule: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        type: { enum: ['constant', 'linear', 'cosine'], default: 'constant' },
        warmupSteps: { type: 'integer', minimum: 0, maximum: 1000000000, default: 0 },
        minLrRatio: { type: 'number', minimum: 0, maximum: 1, default: 0 },
      },
    },
    gradAccum: { type: 'integer', minimum: 1, maximum: 65536, default: 1 },
    clipNorm: { type: 'number', exclusiveMinimum: 0, maximum: 1e9 },
    maxSteps: { type: 'integer', minimum: 1, maximum: 1000000000 },
    checkpointEvery: { type: 'integer', minimum: 1, maximum: 1000000000 },
    gradientCheckpointing: {
      type: 'boolean',
      default: false,
      description: 'Keep only each transformer block\'s input and recompute the block in the backward pass: less activation memory for one more forward',
    },
    earlyStopping: {
      type: 'object',
      additionalProperties: false,
      required: ['metric'],
      properties: {
        metric: { type: 'string' },
        patience: { type: 'integer', minimum: 1, maximum: 1000000, default: 3 },
        minDelta: { type: 'number', minimum: 0, maximum: 1e9, default: 0 },
        mode: { enum: ['min', 'max'], default: 'min' },
      },
    },
    evalEvery: {
      type: 'integer',
      minimum: 1,
      maximum: 1000000000,
      description: 'Evaluate on the validation split every N optimizer steps, besides after each epoch',
    },
    evalStrategy: {
      enum: ['epoch', 'end'],
      default: 'epoch',
      description: "When the validation split is evaluated: 'epoch' after each epoch, 'end' once, when training ends (few-shot runs of many short epochs); evalEvery adds evaluations every N steps either way",
    },
    saveBest: {
      type: 'object',
      additionalProperties: false,
      required: ['metric'],
      description: 'Keep the weights of the best evaluation: the run folder and the summary report them, and the last evaluation beside them',
      properties: {
        metric: { type: 'string', minLength: 1, description: 'An evaluation metric, e.g. "loss", "accuracy", "macro_f1"' },
        mode: { enum: ['min', 'max'], default: 'min' },
      },
    },
  },
};

/** The resolved config's `train` section, typed. */
export function trainConfigOf(config: { train: Record<string, unknown> }): TrainConfig {
  return config.train as unknown as TrainConfig;
}

/** Optimizer steps a run takes: epochs × steps per epoch (batches grouped by gradAccum), capped by maxSteps. */
export function plannedSteps(train: Pick<TrainConfig, 'epochs' | 'batchSize' | 'gradAccum' | 'maxSteps'>, trainRecords: number): { total: number; perEpoch: number } {
  const batches = Math.ceil(Math.max(1, trainRecords) / train.batchSize);
  const perEpoch = Math.ceil(batches / Math.max(1, train.gradAccum ?? 1));
  const all = perEpoch * train.epochs;
  return { total: train.maxSteps !== undefined ? Math.min(all, train.maxSteps) : all, perEpoch };
}

/**
 * Fails on a schedule that cannot run as written: no training record at all (the run would
 * take no step; `train` calls this before it writes anything, so empty data leaves no run
 * folder), or warmup that lasts as long as the whole run (or longer) and never reaches the
 * configured learning rate. Without `trainRecords` only maxSteps bounds the run; with it,
 * epochs × steps per epoch does too. `file` prefixes the message as validation errors are.
 */
export function checkSchedule(train: TrainConfig, trainRecords?: number, file?: string): void {
  if (trainRecords === 0) {
    throw new RunError(
      `The dataset has no training records after its stages${file ? ` (${file})` : ''}, so the run would take no step. Check the data source and what the stages dropped (the data reports).`,
    );
  }
  if (train.evalStrategy === 'end') {
    for (const [field, what] of [['earlyStopping', 'stops on evaluations after each epoch'], ['saveBest', 'chooses among evaluations after each epoch']] as const) {
      if (train[field]) throw new ConfigError(`Config is invalid${file ? ` (${file})` : ''}: /train/${field} ${what}, but train.evalStrategy "end" evaluates only once; use evalStrategy "epoch", or leave ${field} out.`);
    }
  }
  const warmup = train.schedule?.warmupSteps ?? 0;
  if (warmup === 0) return;
  let total: number | undefined;
  let how = '';
  if (trainRecords !== undefined) {
    const planned = plannedSteps(train, trainRecords);
    total = planned.total;
    how =
      train.maxSteps !== undefined && train.maxSteps <= planned.perEpoch * train.epochs
        ? `train.maxSteps ${train.maxSteps}`
        : `${train.epochs} epoch(s) × ${planned.perEpoch} step(s) per epoch: ${trainRecords} training records at batchSize ${train.batchSize}${train.gradAccum > 1 ? `, gradAccum ${train.gradAccum}` : ''}`;
  } else if (train.maxSteps !== undefined) {
    total = train.maxSteps;
    how = `train.maxSteps ${train.maxSteps}`;
  }
  if (total === undefined || warmup < total) return;
  throw new ConfigError(
    `Config is invalid${file ? ` (${file})` : ''}:\n${file ? `${file}: ` : ''}/train/schedule/warmupSteps: ${warmup} warmup steps, but the run has only ${total} steps in all (${how}); ` +
      `the learning rate would never reach train.learningRate. Set warmupSteps below ${total}, or train for more steps.`,
  );
}
