import { Module, tf } from '@leantune/tensor';
import { TensorStore } from '../checkpoint/tensor-store';
import { IndexedDataset } from '../data';
import { EarlyStoppingConfig, EarlyStoppingState } from '../early-stopping';
import { OptimizerConfig } from '../optim/create';
import { LrSchedule, ScheduleConfig } from '../schedule';

export type Metrics = Record<string, number>;

/** Passed to the loss with each micro-batch. */
export interface StepContext {
  /** Optimizer step being computed (0-based). */
  step: number;
  epoch: number;
  /** Micro-batch index within the accumulated step. */
  microBatch: number;
  /** A seed fixed by (run seed, step, microBatch), for the loss's own tfjs random ops. */
  seed: number;
}

/** Where the run is; stored in checkpoints so a resume continues the exact same run. */
export interface TrainState {
  epoch: number;
  /** Micro-batches of the current epoch already consumed. */
  batchInEpoch: number;
  /** Optimizer steps taken. */
  step: number;
  samplesSeen: number;
  seed: number;
  /** Completed runs (all epochs, or stopped early) do nothing when resumed. */
  finished: boolean;
  earlyStopping: EarlyStoppingState | null;
  /** The best evaluation so far, with saveBest (its weights are kept beside the checkpoint's). */
  best?: BestEvaluation | null;
  /** Sums for the epoch's mean train loss, so a mid-epoch resume reports the same mean. */
  epochLossSum: number;
  epochLossSteps: number;
}

export interface StepLogs {
  step: number;
  epoch: number;
  loss: number;
  lr: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  stepTimeMs: number;
  samplesPerSec: number;
  /** Resident memory of the process after the step (MB): a long run shows whether it stays flat. */
  rssMB: number;
}

export interface EpochLogs {
  epoch: number;
  step: number;
  trainLoss: number;
  metrics: Metrics;
  /** Did the early-stopping metric improve at this epoch (undefined without early stopping)? */
  improved?: boolean;
}

/** An evaluation every `evalEvery` steps (between epoch ends). */
export interface EvalLogs {
  epoch: number;
  /** Optimizer steps taken when it ran. */
  step: number;
  metrics: Metrics;
}

/** Where saveBest found its best evaluation. */
export interface BestEvaluation {
  step: number;
  epoch: number;
  metric: string;
  value: number;
  metrics: Metrics;
}

export interface SaveBestConfig {
  /** An evaluation metric (from evalFn or the evaluate callback), e.g. "loss" or "accuracy". */
  monitor: string;
  mode?: 'min' | 'max';
}

export interface TrainCallbacks {
  beforeTrain?(state: Readonly<TrainState>): void | Promise<void>;
  beforeStep?(state: Readonly<TrainState>): void | Promise<void>;
  afterStep?(logs: StepLogs, state: Readonly<TrainState>): void | Promise<void>;
  afterEpoch?(logs: EpochLogs, state: Readonly<TrainState>): void | Promise<void>;
  /** After each evaluation every `evalEvery` steps. */
  afterEval?(logs: EvalLogs, state: Readonly<TrainState>): void | Promise<void>;
  /** A waterfall over the epoch's metrics: return them, changed or not. */
  evaluate?(metrics: Metrics, state: Readonly<TrainState>): Metrics | Promise<Metrics>;
}

export interface CheckpointOptions {
  dir: string;
  /** Save every N optimizer steps (0 or absent: only at the end and on abort). */
  everySteps?: number;
  keepLast?: number;
  store?: TensorStore;
}

export interface FitOptions<B> {
  model: Module;
  /** Mean loss of one batch; `training` is false only when called by evaluation code. */
  loss: (batch: B, training: boolean, ctx: StepContext) => tf.Scalar;
  trainSet: IndexedDataset<B>;
  /** Evaluation after each epoch (the model is in eval mode meanwhile). */
  evalFn?: (model: Module, state: Readonly<TrainState>) => Metrics | Promise<Metrics>;
  /** Also evaluate every N optimizer steps (an evaluation that would fall on an epoch's last step is left to the epoch's). */
  evalEvery?: number;
  /** 'end': evaluate after the last epoch only, not after each (default 'epoch'); no early stopping or saveBest with it. */
  evalStrategy?: 'epoch' | 'end';
  /**
   * Keep the weights of the best evaluation by `monitor`: they are put back into the model
   * when training ends (transformers' load_best_model_at_end), and kept in checkpoints so a
   * resumed run knows them.
   */
  saveBest?: SaveBestConfig;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerConfig;
  /** Default: constant lr. A function gets the step and returns the lr itself. */
  schedule?: ScheduleConfig | LrSchedule;
  /** Clip the global gradient norm to this value (clip_grad_norm_). */
  clipNorm?: number;
  /** Micro-batches averaged per optimizer step (default 1). */
  gradAccum?: number;
  earlyStopping?: EarlyStoppingConfig;
  /** Seeds data order and random ops; default 0. */
  seed?: number;
  shuffle?: boolean;
  dropLast?: boolean;
  checkpoint?: CheckpointOptions;
  /** A checkpoint folder, or a checkpoint directory (resumes from its latest). */
  resumeFrom?: string;
  callbacks?: TrainCallbacks;
  /** Stops after the current step, saving a checkpoint first when checkpointing is on. */
  signal?: AbortSignal;
  /**
   * Reseeds the process-wide random sequence that layers draw from (dropout masks), before
   * each micro-batch. Default: @leantune/tensor's setSeed.
   */
  seedRandomOps?: (seed: number) => void;
}

export interface FitResult {
  state: TrainState;
  stepLogs: StepLogs[];
  epochLogs: EpochLogs[];
  /** Evaluations every `evalEvery` steps. */
  evalLogs: EvalLogs[];
  /** With saveBest: the best evaluation, whose weights the model holds after fit. */
  best?: BestEvaluation;
  /** The last evaluation (epoch or step), whatever saveBest kept. */
  last?: { step: number; epoch: number; metrics: Metrics };
  stoppedBy: 'completed' | 'early-stopping' | 'aborted' | 'already-finished';
  /** The last checkpoint folder written, if any. */
  checkpoint?: string;
}
