import { ConfigError, RunError } from '../errors';
import type { TrainConfig } from './schema';

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
