import type { Run } from '@leantune/core';
import { plannedSteps, trainConfigOf } from '@leantune/train';

/** What training reports as it goes: for progress bars, JSON lines and the metrics history. */
export type TrainEvent =
  | { type: 'start'; dir: string; step: number; totalSteps: number; resumed: boolean }
  | { type: 'step'; step: number; epoch: number; loss: number; lr: number; samplesPerSec: number; totalSteps: number; gradNorm?: number; stepTimeMs?: number; rssMB?: number }
  | { type: 'epoch'; epoch: number; step: number; train_loss: number; [metric: string]: number | string }
  | { type: 'eval'; epoch: number; step: number; [metric: string]: number | string }
  | { type: 'checkpoint'; step: number; dir: string };

/** Where a run trains into: set by trainToFolder in the run's state before training starts. */
export interface RunFolderInfo {
  dir: string;
  /** Continued from a checkpoint of an earlier process (`--resume`). */
  resumed: boolean;
}

/** The key of RunFolderInfo in `run.context.state`. */
export const RUN_FOLDER_STATE = '@leantune/runner:run-folder';

/** The folder a run trains into, when it trains into one (trainToFolder). */
export function runFolderOf(run: Run): RunFolderInfo | undefined {
  return run.context.state.get(RUN_FOLDER_STATE) as RunFolderInfo | undefined;
}

function trainRecordCount(run: Run): number {
  return (run.dataset?.splits?.train ?? run.dataset?.records ?? []).length;
}

/**
 * Taps a run's training hooks and hands each as a TrainEvent (start, step, epoch, eval) to
 * `onEvent`, for a run that trains into a folder. What a reporter plugin builds on; every
 * piece of state (the planned total) lives in this closure, which the run owns.
 */
export function tapTrainEvents(run: Run, name: string, onEvent: (event: TrainEvent) => void | Promise<void>): void {
  let totalSteps = 0;
  run.hooks.beforeTrain.tapPromise(name, async (state) => {
    const folder = runFolderOf(run);
    if (!folder) return;
    totalSteps = plannedSteps(trainConfigOf(run.config), trainRecordCount(run)).total;
    await onEvent({ type: 'start', dir: folder.dir, step: state.step, totalSteps, resumed: folder.resumed });
  });
  run.hooks.afterStep.tap(name, (logs) => {
    if (!runFolderOf(run)) return;
    const { gradNorm, stepTimeMs, rssMB } = logs;
    void onEvent({ type: 'step', step: logs.step + 1, epoch: logs.epoch, loss: logs.loss, lr: logs.lr, samplesPerSec: logs.samplesPerSec ?? 0, totalSteps, gradNorm, stepTimeMs, rssMB });
  });
  run.hooks.afterEpoch.tapPromise(name, async (logs, state) => {
    if (runFolderOf(run)) await onEvent({ type: 'epoch', epoch: logs.epoch, step: state.step, train_loss: logs.trainLoss, ...(logs.eval ?? {}) });
  });
  run.hooks.afterEval.tapPromise(name, async (logs) => {
    if (runFolderOf(run)) await onEvent({ type: 'eval', epoch: logs.epoch, step: logs.step, ...logs.eval });
  });
}
