import {
  AsyncSeriesBailHook,
  AsyncSeriesHook,
  AsyncSeriesWaterfallHook,
  HookMap,
  SyncHook,
  SyncWaterfallHook,
} from 'tapable';
import type { Module } from '@leantune/tensor';
import type { MethodHandle } from './methods';
import type { Artifacts, Dataset, DatasetSpec, EpochLogs, EvalLogs, LoadedModel, Metrics, ModelSpec, StepLogs, TrainState } from './types';
import type { MethodContext, RunContext } from './context';

/**
 * Dataset stage order. Taps use `{ stage: STAGE.CLEAN }`; a third-party stage picks any
 * number in between (e.g. STAGE.CLEAN + 1) instead of naming its neighbours.
 */
export const STAGE = Object.freeze({
  LOAD: -2000,
  CLEAN: -1000,
  LABEL: -500,
  INTEGRATE: -250,
  AUGMENT: 0,
  SPLIT: 500,
  ENCODE: 1000,
} as const);

export type StageName = keyof typeof STAGE;

/** The hook points of one run, in the order a run calls them. */
export interface RunHooks {
  loadModel: AsyncSeriesBailHook<[ModelSpec, RunContext], LoadedModel | undefined>;
  modelLoaded: AsyncSeriesHook<[LoadedModel, RunContext]>;
  /** Per method id: the method's inject, returning the handle the run then owns. */
  inject: HookMap<AsyncSeriesBailHook<[LoadedModel, MethodContext], MethodHandle | undefined>>;
  selectTrainable: SyncWaterfallHook<[ReadonlySet<string>, Module, RunContext]>;
  loadDataset: AsyncSeriesBailHook<[DatasetSpec, RunContext], Dataset | undefined>;
  datasetStage: AsyncSeriesWaterfallHook<[Dataset, RunContext]>;
  beforeTrain: AsyncSeriesHook<[TrainState]>;
  beforeStep: SyncHook<[TrainState]>;
  afterStep: SyncHook<[StepLogs, TrainState]>;
  afterEpoch: AsyncSeriesHook<[EpochLogs, TrainState]>;
  /** After each evaluation every train.evalEvery steps (epoch evaluations come with afterEpoch). */
  afterEval: AsyncSeriesHook<[EvalLogs, TrainState]>;
  afterTrain: AsyncSeriesHook<[TrainState]>;
  evaluate: AsyncSeriesWaterfallHook<[Metrics, RunContext]>;
  save: AsyncSeriesHook<[Artifacts, RunContext]>;
  /** When a run with a run folder fails, with the error, before it is rethrown (for reporters to close their records). */
  failed: AsyncSeriesHook<[unknown, RunContext]>;
}

export function createRunHooks(): Readonly<RunHooks> {
  return Object.freeze({
    loadModel: new AsyncSeriesBailHook<[ModelSpec, RunContext], LoadedModel | undefined>(['spec', 'context']),
    modelLoaded: new AsyncSeriesHook<[LoadedModel, RunContext]>(['model', 'context']),
    inject: new HookMap(() => new AsyncSeriesBailHook<[LoadedModel, MethodContext], MethodHandle | undefined>(['model', 'methodContext'])),
    selectTrainable: new SyncWaterfallHook<[ReadonlySet<string>, Module, RunContext]>(['trainable', 'module', 'context']),
    loadDataset: new AsyncSeriesBailHook<[DatasetSpec, RunContext], Dataset | undefined>(['spec', 'context']),
    datasetStage: new AsyncSeriesWaterfallHook<[Dataset, RunContext]>(['dataset', 'context']),
    beforeTrain: new AsyncSeriesHook<[TrainState]>(['state']),
    beforeStep: new SyncHook<[TrainState]>(['state']),
    afterStep: new SyncHook<[StepLogs, TrainState]>(['logs', 'state']),
    afterEpoch: new AsyncSeriesHook<[EpochLogs, TrainState]>(['logs', 'state']),
    afterEval: new AsyncSeriesHook<[EvalLogs, TrainState]>(['logs', 'state']),
    afterTrain: new AsyncSeriesHook<[TrainState]>(['state']),
    evaluate: new AsyncSeriesWaterfallHook<[Metrics, RunContext]>(['metrics', 'context']),
    save: new AsyncSeriesHook<[Artifacts, RunContext]>(['artifacts', 'context']),
    failed: new AsyncSeriesHook<[unknown, RunContext]>(['error', 'context']),
  });
}
