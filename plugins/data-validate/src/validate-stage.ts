import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { StageReporter, appendReport, holdoutSplit, kFold, labelCounts } from '@leantune/data';
import { countLeaks, findLeaks } from './leakage';

export const PLUGIN_NAME = '@leantune/plugin-data-validate';

export interface ValidateOptions {
  /** 'holdout' keeps splits an earlier stage made (unless `force`); 'kfold' always re-deals. */
  mode?: 'holdout' | 'kfold';
  validation?: number;
  test?: number;
  k?: number;
  fold?: number;
  stratify?: boolean;
  seed?: number;
  force?: boolean;
  leakage?: { exact?: boolean; near?: { enabled?: boolean; threshold?: number; shingleSize?: number; numHashes?: number }; action?: 'report' | 'drop' };
}

export const validateOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: { enum: ['holdout', 'kfold'], default: 'holdout', description: 'holdout: train/validation/test fractions; kfold: fold `fold` of a stratified k-fold' },
    validation: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.2, description: 'holdout: fraction for validation' },
    test: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'holdout: fraction for test' },
    k: { type: 'integer', minimum: 2, maximum: 1000, default: 5, description: 'kfold: number of folds' },
    fold: { type: 'integer', minimum: 0, maximum: 999, default: 0, description: 'kfold: which fold (0-based) is the validation split' },
    stratify: { type: 'boolean', default: true },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'Split seed; default the run seed' },
    force: { type: 'boolean', default: false, description: 'holdout: re-split a dataset that already has splits' },
    leakage: {
      type: 'object',
      additionalProperties: false,
      properties: {
        exact: { type: 'boolean', default: true, description: 'Check for identical texts/images across splits' },
        near: {
          type: 'object',
          additionalProperties: false,
          properties: {
            enabled: { type: 'boolean', default: true },
            threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.9 },
            shingleSize: { type: 'integer', minimum: 1, maximum: 64, default: 5 },
            numHashes: { type: 'integer', minimum: 8, maximum: 4096, default: 128 },
          },
        },
        action: { enum: ['report', 'drop'], default: 'report', description: "drop: remove leaking validation/test records ('leak-exact', 'leak-near')" },
      },
    },
  },
};

/** Splits to validate: the existing ones, a new holdout, or fold `fold` of k (test kept aside). */
function makeSplits(dataset: Dataset, options: ValidateOptions, seed: number): { splits: Record<string, DataRecord[]>; how: Record<string, unknown> } {
  const stratify = options.stratify ?? true;
  if ((options.mode ?? 'holdout') === 'kfold') {
    const k = options.k ?? 5;
    const fold = options.fold ?? 0;
    if (fold >= k) throw new Error(`Stage "validate": fold ${fold} does not exist with k=${k}; set data.stages.validate.fold to 0..${k - 1}`);
    const test = dataset.splits?.test ?? [];
    const testIds = new Set(test.map((r) => r.id));
    const pool = dataset.records.filter((r) => !testIds.has(r.id));
    const folds = kFold(pool, k, { seed, stratify });
    return { splits: { train: folds[fold].train, validation: folds[fold].validation, test }, how: { mode: 'kfold', k, fold, stratify, seed } };
  }
  if (dataset.splits && !options.force) return { splits: dataset.splits, how: { mode: 'holdout', kept: true } };
  const validation = options.validation ?? 0.2;
  const test = options.test ?? 0;
  const split = holdoutSplit(dataset.records, { validation, test, stratify, seed });
  return { splits: { ...split }, how: { mode: 'holdout', validation, test, stratify, seed } };
}

/**
 * After STAGE.SPLIT: makes (or keeps) the train/validation/test splits, checks them for
 * leakage (exact and near-duplicate inputs across splits), and reports split sizes, label
 * counts per split, leaks, and whether early stopping has a validation split to watch.
 */
export const validateStage: DatasetStage<ValidateOptions> = {
  name: 'validate',
  stage: STAGE.SPLIT + 10,
  description: 'Holdout or stratified k-fold splits, leakage check between splits (exact and near-duplicate), validation report',
  optionsSchema: validateOptionsSchema,
  run(dataset: Dataset, options: ValidateOptions, ctx: RunContext): Dataset {
    const seed = options.seed ?? ctx.seed;
    const { splits, how } = makeSplits(dataset, options, seed);
    const order = ['train', 'validation', 'test', ...Object.keys(splits).filter((s) => !['train', 'validation', 'test'].includes(s))];
    const named = order.filter((s) => splits[s]).map((s): [string, DataRecord[]] => [s, splits[s]]);
    const leakage = { exact: true, action: 'report' as const, ...options.leakage };
    const near = { enabled: true, threshold: 0.9, shingleSize: 5, numHashes: 128, ...leakage.near };
    const leaks = findLeaks(named, {
      exact: leakage.exact,
      near: near.enabled ? { threshold: near.threshold, shingleSize: near.shingleSize, numHashes: near.numHashes, seed } : undefined,
    });
    const rep = new StageReporter('validate', PLUGIN_NAME, dataset.records);
    let out = { ...dataset, splits };
    if (leakage.action === 'drop' && leaks.length > 0) {
      const leaked = new Map(leaks.map((l) => [l.id, l]));
      for (const r of dataset.records) if (leaked.has(r.id)) rep.drop(r, `leak-${leaked.get(r.id)!.kind}`);
      const keep = (rs: DataRecord[]) => rs.filter((r) => !leaked.has(r.id));
      out = { ...out, records: keep(dataset.records), splits: Object.fromEntries(Object.entries(splits).map(([k, v]) => [k, keep(v)])) };
    }
    if (leaks.length > 0 && leakage.action === 'report') {
      ctx.log.warn(`validate: ${leaks.length} validation/test record(s) repeat a record of an earlier split (${JSON.stringify(countLeaks(leaks))}); set leakage.action: 'drop' to remove them`);
    }
    // The trainer's section (its schema is the trainer's): read only the early-stopping monitor.
    const earlyStopping = (ctx.config?.train as { earlyStopping?: { metric: string; mode: 'min' | 'max'; patience: number } } | undefined)?.earlyStopping;
    const validationSize = out.splits.validation?.length ?? 0;
    if (earlyStopping && validationSize === 0) {
      throw new Error(`Stage "validate": train.earlyStopping monitors "${earlyStopping.metric}" on the validation split, which is empty; set data.stages.validate.validation above 0 or remove train.earlyStopping`);
    }
    const report = rep.finish(out.records, {
      ...how,
      sizes: Object.fromEntries(Object.entries(out.splits).map(([k, v]) => [k, v.length])),
      labelCounts: Object.fromEntries(Object.entries(out.splits).map(([k, v]) => [k, labelCounts(v)])),
      leakage: { checked: { exact: leakage.exact, near: near.enabled ? near.threshold : false }, action: leakage.action, counts: countLeaks(leaks), total: leaks.length, sample: leaks.slice(0, 50) },
      earlyStopping: earlyStopping ? { metric: earlyStopping.metric, mode: earlyStopping.mode, patience: earlyStopping.patience, on: 'validation', records: validationSize } : null,
    });
    return appendReport(out, report);
  },
};
