import { isAbsolute, resolve } from 'node:path';
import { STAGE, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { appendReport, countReport } from '@leantune/data';
import { loadReplayBuffer, saveReplayBuffer } from './records-io';
import { mixRehearsal, ReservoirBuffer } from './reservoir';

export const PLUGIN_NAME = '@leantune/plugin-data-incremental';

export interface RehearsalStageOptions {
  /** Replay buffer file (saveReplayBuffer / an earlier run's updateBuffer). */
  buffer?: string;
  /** Share of the training set that is replay, in [0, 1) (default 0.2). */
  ratio?: number;
  seed?: number;
  /** Write the buffer with this run's training records added (reservoir) to this file. */
  updateBuffer?: string;
  /** Capacity of a new buffer when there is none yet (default 1000). */
  capacity?: number;
}

export const rehearsalStageSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    buffer: { type: 'string', description: 'Replay buffer file of earlier tasks (relative to the config file)' },
    ratio: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'Replayed share of the training set' },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    updateBuffer: { type: 'string', description: 'Where to write the buffer updated with this task (never the input buffer)' },
    capacity: { type: 'integer', minimum: 1, maximum: 100000000, default: 1000 },
  },
};

const resolveFrom = (ctx: RunContext, p: string) => (isAbsolute(p) ? p : resolve(ctx.configDir ?? process.cwd(), p));

/**
 * Mixes replayed records of earlier tasks into this task's training split (validation and
 * test stay the new task's), and optionally writes an updated buffer for the next increment.
 */
export const rehearsalStage: DatasetStage<RehearsalStageOptions> = {
  name: 'rehearsal',
  stage: STAGE.SPLIT + 30,
  description: 'Rehearsal: replay a reservoir sample of earlier tasks in the training split; update the buffer',
  optionsSchema: rehearsalStageSchema,
  async run(dataset: Dataset, options: RehearsalStageOptions, ctx: RunContext): Promise<Dataset> {
    const seed = options.seed ?? ctx.seed;
    const bufferPath = options.buffer ? resolveFrom(ctx, options.buffer) : undefined;
    const updatePath = options.updateBuffer ? resolveFrom(ctx, options.updateBuffer) : undefined;
    if (!bufferPath && !updatePath) throw new Error('data.stages.rehearsal: give "buffer" (records to replay), "updateBuffer" (a buffer to write), or both');
    if (bufferPath && bufferPath === updatePath) throw new Error(`data.stages.rehearsal: updateBuffer must differ from buffer (${bufferPath}); input files are never overwritten`);
    const buffer = bufferPath ? await loadReplayBuffer(bufferPath) : new ReservoirBuffer(options.capacity ?? 1000, seed);
    const train = dataset.splits?.train ?? dataset.records;
    const mix = bufferPath ? mixRehearsal(train, buffer.items(), { ratio: options.ratio ?? 0.2, seed }) : { records: [...train], replayed: 0, unique: 0 };
    const added = mix.records.slice(train.length);
    if (updatePath) {
      buffer.addAll(train);
      await saveReplayBuffer(buffer, updatePath);
    }
    const n = dataset.records.length;
    const out: Dataset = { ...dataset, records: [...dataset.records, ...added] };
    if (dataset.splits?.train) out.splits = { ...dataset.splits, train: mix.records };
    ctx.log.info(`rehearsal: ${mix.replayed} replayed record(s) (${mix.unique} distinct) mixed into ${dataset.splits?.train ? 'the train split' : 'the records'}`);
    return appendReport(
      out,
      countReport('rehearsal', PLUGIN_NAME, { in: n, out: n + added.length, dropReasons: {} }, { replayed: mix.replayed, unique: mix.unique, ratio: options.ratio ?? 0.2, bufferSize: buffer.size, seen: buffer.seen, ...(updatePath ? { updatedBuffer: updatePath } : {}) }),
    );
  },
};
