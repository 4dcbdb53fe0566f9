import { isAbsolute, resolve } from 'node:path';
import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { appendReport } from '@leantune/data';
import { driftReport, formatDriftReport, type DriftThresholds } from './drift';
import { FEATURE_SOURCES, type FeatureSource } from './features';
import { loadDriftReference } from './reference';

export const PLUGIN_NAME = '@leantune/plugin-data-monitor';

export interface DriftStageOptions {
  /** A file from saveDriftReference; without it, `referenceSplit` of this dataset is the reference. */
  reference?: string;
  referenceSplit?: string;
  /** The split to check ('all' = every record); default "validation". */
  currentSplit?: string;
  features?: FeatureSource;
  bins?: number;
  alpha?: number;
  thresholds?: Partial<DriftThresholds>;
  /** Stop the run when the verdict is "retrain" (default false: warn only). */
  failOnRetrain?: boolean;
}

export const driftStageSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    reference: { type: 'string', description: 'Drift reference file (saveDriftReference); relative to the config file' },
    referenceSplit: { type: 'string', default: 'train', description: 'Split used as reference when no file is given' },
    currentSplit: { type: 'string', default: 'validation', description: 'Split to check, or "all"' },
    features: { type: 'string', enum: [...FEATURE_SOURCES], description: 'image pixels, record.features, or text statistics' },
    bins: { type: 'integer', minimum: 2, maximum: 10000, default: 10 },
    alpha: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, default: 0.05 },
    thresholds: {
      type: 'object',
      additionalProperties: false,
      properties: { psi: { type: 'number', minimum: 0, maximum: 100 }, driftedShare: { type: 'number', minimum: 0, maximum: 1 }, labelPsi: { type: 'number', minimum: 0, maximum: 100 }, labelAlpha: { type: 'number', exclusiveMinimum: 0, maximum: 1 } },
    },
    failOnRetrain: { type: 'boolean', default: false },
  },
};

function pick(dataset: Dataset, split: string, option: string): DataRecord[] {
  if (split === 'all') return dataset.records;
  const list = dataset.splits?.[split];
  if (!list) {
    const have = Object.keys(dataset.splits ?? {});
    throw new Error(`data.stages.drift: ${option} "${split}" is not a split of dataset "${dataset.name}" (splits: ${have.join(', ') || 'none; add the split stage or use "all"'})`);
  }
  return list;
}

/**
 * Measures drift after the split and records it in a 'drift' report (records pass through
 * unchanged); logs a warning, or stops the run with failOnRetrain, when retraining is due.
 */
export const driftStage: DatasetStage<DriftStageOptions> = {
  name: 'drift',
  stage: STAGE.SPLIT + 50,
  description: 'Drift (PSI, KS, label chi-square) of a split against a reference, with a retrain recommendation',
  optionsSchema: driftStageSchema,
  async run(dataset: Dataset, options: DriftStageOptions, ctx: RunContext): Promise<Dataset> {
    const current = pick(dataset, options.currentSplit ?? 'validation', 'currentSplit');
    let reference: DataRecord[];
    let features: FeatureSource | undefined = options.features;
    if (options.reference) {
      const saved = await loadDriftReference(isAbsolute(options.reference) ? options.reference : resolve(ctx.configDir ?? process.cwd(), options.reference));
      if (saved.source === 'custom' && !features) throw new Error(`data.stages.drift: reference ${options.reference} was made with a custom extractor; set "features" to the matching source`);
      // The saved vectors were extracted with saved.source; current records get the same extractor.
      features ??= saved.source as FeatureSource;
      reference = saved.records;
    } else reference = pick(dataset, options.referenceSplit ?? 'train', 'referenceSplit');
    const report = driftReport(reference, current, {
      features,
      referenceFeatures: options.reference ? 'features' : undefined,
      bins: options.bins,
      alpha: options.alpha,
      thresholds: options.thresholds,
    });
    const text = formatDriftReport(report);
    if (report.verdict === 'retrain') {
      if (options.failOnRetrain) throw new Error(`data.stages.drift: ${text}`);
      ctx.log.warn(`drift: ${text}`);
    } else ctx.log.info(`drift: ${text}`);
    const n = dataset.records.length;
    return appendReport(dataset, { stage: 'drift', plugin: PLUGIN_NAME, in: n, out: n, changed: 0, dropped: 0, dropReasons: {}, details: { ...report } });
  },
};
