import { ConfigError, STAGE, closeMatches, datasetLabels, type DataRecord, type Dataset, type DatasetStage, type JSONSchema } from '@leantune/core';
import { appendReport } from '@leantune/data';
import { PLUGIN_NAME } from './common';

export interface ClassesOptions {
  /** The classes to keep, in the order the model's labels take. */
  keep?: string[];
  /** The classes to leave out (the rest keep the dataset's order). */
  drop?: string[];
}

export const classesOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    keep: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, uniqueItems: true, description: 'Classes to keep, in this order (the labels the model gets)' },
    drop: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1, uniqueItems: true, description: 'Classes to leave out; the others keep the dataset\'s order' },
  },
};

const ID_SAMPLES = 5;

/**
 * Keeps the records of some classes: `keep` (in that order, which becomes the dataset's
 * labels) or `drop`. Runs right after loading, so `limit` has already taken its per-class
 * sample and the split sees only the kept classes. Records of other classes, and unlabelled
 * ones, are dropped as asked ('other-class', 'unlabelled' in the report). A class the dataset
 * does not have is an error naming it and the dataset's classes. Without options: no change.
 */
export const classesStage: DatasetStage<ClassesOptions> = {
  name: 'classes',
  stage: STAGE.LOAD,
  description: 'Keeps the records of the listed classes (keep) or of all but them (drop); the labels become the kept classes',
  optionsSchema: classesOptionsSchema,
  run(dataset: Dataset, options: ClassesOptions): Dataset {
    // Registered stages run on every dataset: without options this one leaves it alone.
    if (!options.keep && !options.drop) return dataset;
    if (options.keep && options.drop) throw new ConfigError('data.stages.classes: give one of "keep" (the classes to keep) or "drop" (the classes to leave out), not both');
    const known = datasetLabels(dataset);
    const named = options.keep ?? options.drop!;
    for (const c of named) {
      if (!known.includes(c)) {
        const close = closeMatches(c, known, 3);
        throw new ConfigError(`data.stages.classes.${options.keep ? 'keep' : 'drop'}: dataset "${dataset.name}" has no class ${JSON.stringify(c)}.${close.length ? ` Close: ${close.map((x) => JSON.stringify(x)).join(', ')}.` : ''} Its classes: ${known.map((x) => JSON.stringify(x)).join(', ')}`);
      }
    }
    const labels = options.keep ? [...options.keep] : known.filter((c) => !options.drop!.includes(c));
    if (labels.length === 0) throw new ConfigError(`data.stages.classes.drop leaves no class of dataset "${dataset.name}"; keep at least one`);
    const kept = new Set(labels);
    const dropReasons: Record<string, number> = {};
    const dropIds: Record<string, string[]> = {};
    const filter = (records: DataRecord[]) =>
      records.filter((r) => {
        const reason = r.label === undefined ? 'unlabelled' : kept.has(String(r.label)) ? undefined : 'other-class';
        if (!reason) return true;
        dropReasons[reason] = (dropReasons[reason] ?? 0) + 1;
        const ids = (dropIds[reason] ??= []);
        if (ids.length < ID_SAMPLES) ids.push(r.id);
        return false;
      });
    const records = filter(dataset.records);
    // A loader's own split holds the same records: filter each list, counting the drops once.
    const counts = { ...dropReasons };
    const splits = dataset.splits && Object.fromEntries(Object.entries(dataset.splits).map(([k, v]) => [k, filter(v)]));
    Object.assign(dropReasons, counts);
    const dropped = dataset.records.length - records.length;
    return appendReport(
      { ...dataset, records, labels, ...(splits ? { splits } : {}) },
      {
        stage: 'classes',
        plugin: PLUGIN_NAME,
        in: dataset.records.length,
        out: records.length,
        changed: 0,
        dropped,
        dropReasons,
        dropIds,
        requested: Object.keys(dropReasons),
        details: { labels, ...(options.drop ? { left: options.drop } : {}) },
      },
    );
  },
};
