import { epochPermutation } from './random';

/**
 * A dataset addressed by sample index, so the position in the data (epoch, batch within the
 * epoch, and the seed of the shuffled order) is a few integers a checkpoint can store.
 * `getBatch` runs inside tf.tidy: tensors it creates are freed after the step, and it must
 * be synchronous for that reason.
 */
export interface IndexedDataset<B> {
  readonly length: number;
  getBatch(indices: number[]): B;
}

export interface BatchPlanOptions {
  batchSize: number;
  seed: number;
  shuffle?: boolean;
  /** Drop a final batch smaller than batchSize. */
  dropLast?: boolean;
}

/** The sample indices of every batch of one epoch. */
export function epochBatches(length: number, epoch: number, options: BatchPlanOptions): number[][] {
  const order = options.shuffle === false ? Array.from({ length }, (_, i) => i) : epochPermutation(length, options.seed, epoch);
  const batches: number[][] = [];
  for (let start = 0; start < length; start += options.batchSize) {
    const batch = order.slice(start, start + options.batchSize);
    if (options.dropLast && batch.length < options.batchSize) break;
    batches.push(batch);
  }
  return batches;
}

/** Optimizer steps per epoch: micro-batches grouped by gradAccum, the last group may be short. */
export function stepsPerEpoch(length: number, batchSize: number, gradAccum: number, dropLast = false): number {
  const batches = dropLast ? Math.floor(length / batchSize) : Math.ceil(length / batchSize);
  return Math.ceil(batches / gradAccum);
}
