import { STAGE, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { appendReport, holdoutSplit, labelCounts } from '@leantune/data';
import { PLUGIN_NAME } from './common';

export interface SplitOptions {
  validation?: number;
  test?: number;
  stratify?: boolean;
  seed?: number;
  force?: boolean;
}

export const splitOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    validation: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'Fraction of records for validation' },
    test: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Fraction of records for test' },
    stratify: { type: 'boolean', default: true, description: "Keep each label's share equal across splits" },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'Split seed; default the run seed (runtime.seed)' },
    force: { type: 'boolean', default: false, description: 'Re-split even when the dataset already has splits' },
  },
};

/**
 * Holdout split at STAGE.SPLIT: fills dataset.splits { train, validation, test } and adds a
 * 'split' report with per-split counts (and per-label counts when stratified). A dataset
 * that arrives already split (a loader's official split) is left alone unless `force`.
 */
export const splitStage: DatasetStage<SplitOptions> = {
  name: 'split',
  stage: STAGE.SPLIT,
  description: 'Seeded holdout split into train/validation/test, stratified by label',
  optionsSchema: splitOptionsSchema,
  run(dataset: Dataset, options: SplitOptions, ctx: RunContext): Dataset {
    const n = dataset.records.length;
    if (dataset.splits && !options.force) {
      const counts = Object.fromEntries(Object.entries(dataset.splits).map(([k, v]) => [k, v.length]));
      ctx.log.info(`split: dataset "${dataset.name}" is already split (${JSON.stringify(counts)}); kept as is (set force: true to re-split)`);
      return appendReport(dataset, { stage: 'split', plugin: PLUGIN_NAME, in: n, out: n, changed: 0, dropped: 0, dropReasons: {}, details: { kept: true, counts } });
    }
    const seed = options.seed ?? ctx.seed;
    const validation = options.validation ?? 0.2;
    const test = options.test ?? 0;
    const stratify = options.stratify ?? true;
    let splits;
    try {
      splits = holdoutSplit(dataset.records, { validation, test, stratify, seed });
    } catch (err) {
      throw new Error(`data.stages.split: ${(err as Error).message}`, { cause: err });
    }
    const counts = { train: splits.train.length, validation: splits.validation.length, test: splits.test.length };
    const details: Record<string, unknown> = { seed, validation, test, stratify, counts };
    if (stratify) details.labelCounts = { train: labelCounts(splits.train), validation: labelCounts(splits.validation), test: labelCounts(splits.test) };
    // A split moves records between lists; none is dropped or changed.
    return appendReport(
      { ...dataset, splits: { ...splits } },
      { stage: 'split', plugin: PLUGIN_NAME, in: n, out: n, changed: 0, dropped: 0, dropReasons: {}, details },
    );
  },
};
