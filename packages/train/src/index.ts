export { Rng, deriveSeed, epochPermutation, hash32 } from './random';
export { type Optimizer, type OptimizerStateDict, ParamOptimizer } from './optim/optimizer';
export { AdamW, type AdamWOptions } from './optim/adamw';
export { SGD, type SGDOptions } from './optim/sgd';
export { createOptimizer, type OptimizerConfig } from './optim/create';
export { createLrSchedule, scheduleFactor, type LrSchedule, type ScheduleConfig } from './schedule';
export { clipGradNorm, globalNorm, GradientAccumulator, type ClippedGradients } from './gradients';
export { EarlyStopping, type EarlyStoppingConfig, type EarlyStoppingState } from './early-stopping';
export {
  accuracyFromConfusion,
  ClassificationMeter,
  confusionMatrix,
  macroF1,
  perClassF1,
  perClassMetrics,
  perClassScores,
  type ClassScores,
  type ClassificationMetrics,
  type ConfusionMatrix,
} from './metrics';
export { epochBatches, stepsPerEpoch, type BatchPlanOptions, type IndexedDataset } from './data';
export { defaultTensorStore, safetensorsStore, type StoredTensors, type TensorStore } from './checkpoint/tensor-store';
export {
  CheckpointError,
  checkpointFolderName,
  loadCheckpoint,
  resolveCheckpoint,
  saveCheckpoint,
  type CheckpointContents,
  type ResolveCheckpointOptions,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
} from './checkpoint/checkpoint';
export { fit } from './trainer/fit';
export { trainStep, type StepInputs, type StepOutcome } from './trainer/step';
export type {
  BestEvaluation,
  CheckpointOptions,
  EpochLogs,
  EvalLogs,
  FitOptions,
  FitResult,
  Metrics,
  SaveBestConfig,
  StepContext,
  StepLogs,
  TrainCallbacks,
  TrainState,
} from './trainer/types';
export { classificationReport, createTrainDriver, evaluateClassifier, evaluateLoss, TRAIN_REPORT, type TrainDriverOptions, type TrainReport } from './run-driver';
export { checkActivationsFit, checkMemoryFits, parameterStateBytes, probeBytesPerSample, PROBE_MIN_PARAMETERS, WASM_HEAP_BYTES } from './memory-check';
export * from './config';
