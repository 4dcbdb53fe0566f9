import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { appendReport, StageReporter } from '@leantune/data';
import { fitExtractor, withFeatures, type ExtractorSpec } from './extractor';
import { recordsToMatrix, type VectorSource } from './matrix';

export const PLUGIN_NAME = '@leantune/plugin-data-unsupervised';

export interface FeaturesStageOptions {
  method: 'pca' | 'autoencoder';
  /** Output width. */
  k: number;
  source?: VectorSource;
  /** Records the extractor is fitted on, without their labels: 'train' split (default) or 'all'. */
  fitOn?: 'train' | 'all';
  /** Drop records without a label after fitting (they served as unlabelled pretraining data). */
  dropUnlabelled?: boolean;
  /** z-score each feature with the fit set's mean and standard deviation (default false). */
  standardize?: boolean;
  seed?: number;
  hidden?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
}

export const featuresStageSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'k'],
  properties: {
    method: { type: 'string', enum: ['pca', 'autoencoder'] },
    k: { type: 'integer', minimum: 1, maximum: 65536, description: 'Number of features (PCA components / bottleneck width)' },
    source: { type: 'string', enum: ['image', 'features'], default: 'image' },
    fitOn: { type: 'string', enum: ['train', 'all'], default: 'train', description: 'Fit on the train split (default) or every record; labels are never used' },
    dropUnlabelled: { type: 'boolean', default: false },
    standardize: { type: 'boolean', default: false, description: "z-score each feature with the fit set's statistics" },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    hidden: { type: 'integer', minimum: 1, maximum: 65536, default: 128 },
    epochs: { type: 'integer', minimum: 1, maximum: 100000, default: 5 },
    batchSize: { type: 'integer', minimum: 1, maximum: 65536, default: 64 },
    lr: { type: 'number', exclusiveMinimum: 0, maximum: 10, default: 0.001 },
  },
};

const hasLabel = (r: DataRecord) => r.label !== undefined || (r.labels?.length ?? 0) > 0;

/**
 * Fits PCA or an autoencoder on unlabelled vectors and gives every record a `features`
 * vector (new record objects; the input dataset is not modified). Runs after the split so
 * that, by default, only training images shape the features.
 */
export const featuresStage: DatasetStage<FeaturesStageOptions> = {
  name: 'features',
  stage: STAGE.SPLIT + 20,
  description: 'Unsupervised features (PCA or autoencoder bottleneck) added to every record as `features`',
  optionsSchema: featuresStageSchema,
  async run(dataset: Dataset, options: FeaturesStageOptions, ctx: RunContext): Promise<Dataset> {
    const source = options.source ?? 'image';
    const fitOn = options.fitOn ?? 'train';
    const fitRecords = fitOn === 'train' ? (dataset.splits?.train ?? dataset.records) : dataset.records;
    const spec: ExtractorSpec =
      options.method === 'pca'
        ? { method: 'pca', seed: options.seed ?? ctx.seed, standardize: options.standardize }
        : { method: 'autoencoder', hidden: options.hidden, epochs: options.epochs, batchSize: options.batchSize, lr: options.lr, seed: options.seed ?? ctx.seed, standardize: options.standardize };
    const extractor = await fitExtractor(recordsToMatrix(fitRecords, source), options.k, spec);
    const all = new Set<DataRecord>([...dataset.records, ...Object.values(dataset.splits ?? {}).flat()]);
    const mapped = withFeatures([...all], extractor, source);
    const reporter = new StageReporter('features', PLUGIN_NAME, dataset.records);
    const keep = (r: DataRecord) => {
      if (options.dropUnlabelled && !hasLabel(r)) {
        reporter.drop(r, 'unlabelled');
        return false;
      }
      reporter.change(r);
      return true;
    };
    const records = dataset.records.filter(keep).map((r) => mapped.get(r)!);
    const out: Dataset = { ...dataset, records };
    if (dataset.splits) {
      out.splits = Object.fromEntries(Object.entries(dataset.splits).map(([name, list]) => [name, list.filter((r) => !options.dropUnlabelled || hasLabel(r)).map((r) => mapped.get(r)!)]));
    }
    const details: Record<string, unknown> = { method: options.method, k: options.k, source, fitOn, fittedOn: fitRecords.length };
    if (extractor.kind === 'pca') details.explainedVarianceRatio = Array.from(extractor.model.explainedVarianceRatio).reduce((a, b) => a + b, 0);
    else details.reconstructionMse = extractor.history;
    ctx.log.info(`features: ${options.method} k=${options.k} fitted on ${fitRecords.length} ${fitOn === 'train' ? 'training ' : ''}records`);
    return appendReport(out, reporter.finish(records, details));
  },
};
