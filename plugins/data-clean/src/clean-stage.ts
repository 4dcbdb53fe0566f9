import { STAGE, type DataRecord, type Dataset, type DatasetStage, type JSONSchema, type RunContext } from '@leantune/core';
import { StageReporter, appendReport } from '@leantune/data';
import { exactGroups, nearGroups, resolveGroup, type LabelConflict } from './duplicates';
import { normalizeText, type UnicodeForm } from './normalize';

export const PLUGIN_NAME = '@leantune/plugin-data-clean';

export interface NearDuplicateSettings {
  enabled?: boolean;
  threshold?: number;
  shingleSize?: number;
  numHashes?: number;
}

export interface CleanOptions {
  unicode?: UnicodeForm;
  whitespace?: boolean;
  dropEmpty?: boolean;
  minLength?: number;
  maxLength?: number;
  exactDuplicates?: boolean;
  nearDuplicates?: NearDuplicateSettings;
  conflicts?: 'report' | 'drop';
  seed?: number;
}

export const cleanOptionsSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    unicode: { enum: ['NFKC', 'NFC', 'none'], default: 'NFKC', description: 'Unicode normal form applied to text' },
    whitespace: { type: 'boolean', default: true, description: 'Normalise line endings and runs of whitespace, drop zero-width characters' },
    dropEmpty: { type: 'boolean', default: true, description: "Drop records whose text is empty after normalisation ('empty-text')" },
    minLength: { type: 'integer', minimum: 0, maximum: 1073741824, default: 0, description: "Drop texts shorter than this many characters ('too-short')" },
    maxLength: { type: 'integer', minimum: 1, maximum: 1073741824, description: "Drop texts longer than this many characters ('too-long')" },
    exactDuplicates: { type: 'boolean', default: true, description: 'Remove records whose normalised text (or image pixels) equal an earlier one' },
    nearDuplicates: {
      description: 'Near-duplicate removal over character shingles (MinHash/LSH candidates confirmed by exact Jaccard)',
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean', default: true },
        threshold: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.9, description: 'Jaccard similarity of 5-character shingle sets' },
        shingleSize: { type: 'integer', minimum: 1, maximum: 64, default: 5 },
        numHashes: { type: 'integer', minimum: 8, maximum: 4096, default: 128 },
      },
    },
    conflicts: { enum: ['report', 'drop'], default: 'report', description: "Same or near-same input with different labels: list them, or also drop them ('conflicting-label')" },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295, description: 'MinHash seed; default the run seed' },
  },
};

/** How many conflicts and duplicate examples a report lists verbatim. */
const LISTED = 50;

/** Per record: normalise, then empty and length filters; returns the survivors. */
function normaliseAndFilter(records: readonly DataRecord[], options: CleanOptions, rep: StageReporter): DataRecord[] {
  const kept: DataRecord[] = [];
  for (const record of records) {
    if (record.text !== undefined && typeof record.text !== 'string') {
      rep.drop(record, 'malformed-text');
      continue;
    }
    if (typeof record.text !== 'string') {
      kept.push(record);
      continue;
    }
    const text = normalizeText(record.text, { unicode: options.unicode ?? 'NFKC', whitespace: options.whitespace ?? true });
    if (text === '' && (options.dropEmpty ?? true)) rep.drop(record, 'empty-text');
    else if (text.length < (options.minLength ?? 0)) rep.drop(record, 'too-short');
    else if (options.maxLength !== undefined && text.length > options.maxLength) rep.drop(record, 'too-long');
    else if (text === record.text) kept.push(record);
    else {
      // A new record object: the loader's records (and the source files) stay as they were.
      const changed = { ...record, text };
      rep.change(changed);
      kept.push(changed);
    }
  }
  return kept;
}

/**
 * STAGE.CLEAN: normalise text, filter empty and out-of-range lengths, remove exact then
 * near duplicates, detect conflicting labels. Every drop is counted by reason; the report's
 * details list the conflicts and examples of duplicates (kept id, dropped id).
 */
export const cleanStage: DatasetStage<CleanOptions> = {
  name: 'clean',
  stage: STAGE.CLEAN,
  description: 'Unicode/whitespace normalisation, empty and length filters, exact and near-duplicate removal, conflicting-label detection',
  optionsSchema: cleanOptionsSchema,
  run(dataset: Dataset, options: CleanOptions, ctx: RunContext): Dataset {
    const rep = new StageReporter('clean', PLUGIN_NAME, dataset.records);
    let records = normaliseAndFilter(dataset.records, options, rep);
    const dropConflicts = options.conflicts === 'drop';
    const conflicts: LabelConflict[] = [];
    const examples: Array<{ kept?: string; dropped: string; reason: string }> = [];
    const apply = (groups: DataRecord[][], kind: 'exact' | 'near') => {
      const gone = new Set<DataRecord>();
      for (const group of groups) {
        const verdict = resolveGroup(group, kind, dropConflicts);
        if (verdict.conflict) conflicts.push(verdict.conflict);
        for (const d of verdict.drops) {
          rep.drop(d.record, d.reason);
          gone.add(d.record);
          if (examples.length < LISTED) examples.push({ kept: d.keptId, dropped: d.record.id, reason: d.reason });
        }
      }
      records = records.filter((r) => !gone.has(r));
    };
    if (options.exactDuplicates ?? true) apply(exactGroups(records), 'exact');
    let near: Record<string, unknown> | undefined;
    if (options.nearDuplicates?.enabled !== false) {
      const { enabled: _, ...chosen } = options.nearDuplicates ?? {};
      const settings = { threshold: 0.9, shingleSize: 5, numHashes: 128, ...chosen };
      const found = nearGroups(records, { ...settings, seed: options.seed ?? ctx.seed });
      apply(found.groups, 'near');
      near = { ...settings, pairs: found.pairs.length, clusters: found.groups.length, pairSample: found.pairs.slice(0, LISTED) };
    }
    if (conflicts.length > 0) {
      ctx.log.warn(`clean: ${conflicts.length} group(s) of duplicate inputs carry different labels (${dropConflicts ? 'dropped' : "kept; set conflicts: 'drop' to drop them"}); see the clean report`);
    }
    const report = rep.finish(records, {
      near,
      conflictCount: conflicts.length,
      conflicts: conflicts.slice(0, LISTED),
      duplicateSample: examples,
    });
    return appendReport({ ...dataset, records }, report);
  },
};
