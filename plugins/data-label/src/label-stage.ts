import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { StageReporter, appendReport, countReasons, labelSet, primaryLabel } from '@leantune/data';
import { buildFeatures, type FeatureSource } from './features';
import { knnProbabilities } from './knn';
import { readManualLabels, type ManualLabelsOptions } from './manual';
import { findLabelIssues, outOfFoldProbabilities } from './noise';

export const PLUGIN_NAME = '@leantune/plugin-data-label';

export interface LabelOptions {
  features?: string;
  maxFeatures?: number;
  import?: ManualLabelsOptions;
  autoLabel?: { enabled?: boolean; k?: number; threshold?: number };
  noise?: { enabled?: boolean; folds?: number; k?: number; action?: 'report' | 'drop'; listed?: number };
  seed?: number;
}

export const labelOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    features: { type: 'string', default: 'auto', description: 'Feature source: auto (tfidf for text, pixels for images), tfidf, pixels, or one given to createLabelPlugin({ featureSources })' },
    maxFeatures: { type: 'integer', minimum: 1, maximum: 10000000, default: 20000, description: 'TF-IDF vocabulary size (most frequent terms)' },
    import: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: { type: 'string', minLength: 1, description: "CSV (with a header) or JSONL of manual labels by record id, relative to the config's folder" },
        format: { enum: ['csv', 'jsonl'] },
        idField: { type: 'string', default: 'id' },
        labelField: { type: 'string', default: 'label' },
      },
    },
    autoLabel: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        k: { type: 'integer', minimum: 1, maximum: 10000, default: 5 },
        threshold: { type: 'number', minimum: 0, maximum: 1, default: 0.8, description: 'Minimum kNN vote share to accept a machine label' },
      },
    },
    noise: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        folds: { type: 'integer', minimum: 2, maximum: 1000, default: 5 },
        k: { type: 'integer', minimum: 1, maximum: 10000, default: 10 },
        action: { enum: ['report', 'drop'], default: 'report', description: "drop: remove suspects ('suspected-label-noise')" },
        listed: { type: 'integer', minimum: 0, maximum: 10000000, default: 100, description: 'Suspects listed in the report' },
      },
    },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
  },
};

const withLabel = (r: DataRecord, label: string, meta: Record<string, unknown>): DataRecord => ({ ...r, label, meta: { ...r.meta, ...meta } });

/**
 * STAGE.LABEL, in order: manual labels imported by record id, kNN labels for unlabelled
 * records above a confidence threshold (meta.labelSource = 'machine'), then label-noise
 * detection by confident learning on out-of-fold kNN probabilities (opt-in: `noise`).
 */
export function createLabelStage(featureSources: Record<string, FeatureSource> = {}): DatasetStage<LabelOptions> {
  return {
    name: 'label',
    stage: STAGE.LABEL,
    description: 'Manual label import, kNN auto-labelling (machine labels tagged), confident-learning label-noise suspects',
    optionsSchema: labelOptionsSchema,
    async run(dataset: Dataset, options: LabelOptions, ctx: RunContext): Promise<Dataset> {
      const rep = new StageReporter('label', PLUGIN_NAME, dataset.records);
      let records = [...dataset.records];
      const details: Record<string, unknown> = {};
      if (options.import) {
        const manual = await readManualLabels(options.import, ctx.configDir);
        const known = new Set(records.map((r) => r.id));
        let applied = 0;
        records = records.map((r) => {
          const label = manual.labels.get(r.id);
          if (label === undefined) return r;
          applied++;
          const out = withLabel(r, label, { labelSource: 'manual' });
          if (primaryLabel(r) !== label) rep.change(out);
          return out;
        });
        const unknown = [...manual.labels.keys()].filter((id) => !known.has(id));
        details.import = { file: manual.file, rows: manual.rows, applied, unknownIds: unknown.length, unknownSample: unknown.slice(0, 20), skipped: countReasons(manual.skipped.map((s) => s.reason)) };
        if (unknown.length > 0) ctx.log.warn(`label: ${unknown.length} id(s) in ${manual.file} match no record (e.g. ${unknown.slice(0, 3).join(', ')})`);
      }
      const auto = { enabled: true, k: 5, threshold: 0.8, ...options.autoLabel };
      const noise = { enabled: options.noise !== undefined, folds: 5, k: 10, action: 'report' as const, listed: 100, ...options.noise };
      const unlabelled = records.filter((r) => primaryLabel(r) === '');
      const needsFeatures = (auto.enabled && unlabelled.length > 0) || noise.enabled;
      const features = needsFeatures ? buildFeatures(records, options.features ?? 'auto', featureSources, { maxFeatures: options.maxFeatures }) : [];
      const indexOf = new Map(records.map((r, i) => [r, i]));
      if (auto.enabled && unlabelled.length > 0) {
        const refs = records.filter((r) => primaryLabel(r) !== '');
        const classes = dataset.labels?.length ? dataset.labels : labelSet(refs);
        const probs = knnProbabilities(
          unlabelled.map((r) => features[indexOf.get(r)!]),
          refs.map((r) => features[indexOf.get(r)!]),
          refs.map((r) => classes.indexOf(primaryLabel(r))),
          classes.length,
          auto.k,
        );
        const assigned = new Map<DataRecord, DataRecord>();
        unlabelled.forEach((r, i) => {
          const best = probs[i].indexOf(Math.max(...probs[i]));
          if (probs[i][best] < auto.threshold) return;
          const out = withLabel(r, classes[best], { labelSource: 'machine', labelConfidence: Math.round(probs[i][best] * 1e4) / 1e4 });
          assigned.set(r, out);
          rep.change(out);
        });
        records = records.map((r) => assigned.get(r) ?? r);
        details.autoLabel = { ...auto, candidates: unlabelled.length, labelled: assigned.size, stillUnlabelled: unlabelled.length - assigned.size, byLabel: countReasonsLoose([...assigned.values()].map(primaryLabel)) };
      }
      if (noise.enabled) {
        const human = records.filter((r) => primaryLabel(r) !== '' && r.meta.labelSource !== 'machine');
        const classes = labelSet(human);
        if (human.length < noise.folds * 2) {
          ctx.log.warn(`label: noise detection needs at least ${noise.folds * 2} labelled records (got ${human.length}); skipped`);
        } else {
          const position = new Map(records.map((r, i) => [r, i]));
          const feats = human.map((r) => features[position.get(r)!]);
          const probs = outOfFoldProbabilities(human, feats, classes, { folds: noise.folds, k: noise.k, seed: options.seed ?? ctx.seed });
          const { suspects, thresholds } = findLabelIssues(human, probs, classes);
          details.noise = { folds: noise.folds, k: noise.k, action: noise.action, checked: human.length, thresholds, suspectCount: suspects.length, suspects: suspects.slice(0, noise.listed) };
          if (noise.action === 'drop') {
            const ids = new Set(suspects.map((s) => s.id));
            for (const r of records) if (ids.has(r.id)) rep.drop(r, 'suspected-label-noise');
            records = records.filter((r) => !ids.has(r.id));
          }
        }
      }
      return appendReport({ ...dataset, records }, rep.finish(records, details));
    },
  };
}

/** Counts by label (labels are free text, so not the kebab-case reason keys countReasons expects). */
function countReasonsLoose(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
