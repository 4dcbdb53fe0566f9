import type { DataRecord } from '@leantune/core';
import { labelSet } from '@leantune/data';

export interface SourceMapping {
  /** Source label → target label; null excludes that label's records (counted). */
  labelMap?: Record<string, string | null>;
  /** Accept two source labels mapped to one target (a deliberate class merge). */
  allowMerge?: boolean;
  /** Where text and label live in the source's records, as dotted paths ('meta.subject'). */
  fields?: { text?: string; label?: string };
}

/** The value at a dotted path ('meta.subject'), or undefined. */
export function getPath(record: DataRecord, path: string): unknown {
  let value: unknown = record;
  for (const key of path.split('.')) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value;
}

/**
 * Checks a label map against the labels a source really has. Errors: a source label with no
 * mapping (its records would silently lose their class), and two source labels mapped to one
 * target without `allowMerge` (a class disappears). Returns warnings for map keys the source
 * does not have.
 */
export function checkLabelMap(source: string, records: readonly DataRecord[], mapping: SourceMapping): string[] {
  const map = mapping.labelMap;
  if (!map) return [];
  const labels = labelSet(records);
  const unmapped = labels.filter((l) => !(l in map));
  if (unmapped.length > 0) {
    throw new Error(
      `Stage "integrate": source "${source}" has label(s) ${unmapped.map((l) => JSON.stringify(l)).join(', ')} with no entry in labelMap; map each to a target label (itself to keep it) or to null to exclude its records`,
    );
  }
  const byTarget = new Map<string, string[]>();
  for (const l of labels) {
    const target = map[l];
    if (target === null) continue;
    byTarget.set(target, [...(byTarget.get(target) ?? []), l]);
  }
  for (const [target, from] of byTarget) {
    if (from.length > 1 && !mapping.allowMerge) {
      throw new Error(
        `Stage "integrate": source "${source}" maps labels ${from.map((l) => JSON.stringify(l)).join(' and ')} all to "${target}", so ${from.length - 1} class(es) disappear; fix labelMap, or set allowMerge: true for that source if merging is intended`,
      );
    }
  }
  return Object.keys(map)
    .filter((k) => !labels.includes(k))
    .map((k) => `integrate: labelMap of source "${source}" names label "${k}", which the source does not have`);
}

/**
 * One source record with fields and label mapped, or a drop reason. Returns a new record; the
 * source's record is not modified.
 */
export function mapRecord(record: DataRecord, mapping: SourceMapping): { record: DataRecord } | { reason: string } {
  const out: DataRecord = { ...record, meta: { ...record.meta } };
  if (mapping.fields?.text) {
    const text = getPath(record, mapping.fields.text);
    if (typeof text !== 'string') return { reason: 'missing-text-field' };
    out.text = text;
  }
  if (mapping.fields?.label) {
    const label = getPath(record, mapping.fields.label);
    if (typeof label !== 'string' && typeof label !== 'number') return { reason: 'missing-label-field' };
    out.label = label;
  }
  if (mapping.labelMap && out.label !== undefined) {
    const target = mapping.labelMap[String(out.label)];
    if (target === null) return { reason: 'label-excluded' };
    out.label = target;
  }
  return { record: out };
}
