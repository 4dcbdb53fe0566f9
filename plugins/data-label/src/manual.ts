import { extname, isAbsolute, resolve } from 'node:path';
import type { DataRecord } from '@leantune/core';
import { collect, readCsv, readJsonl, type SkippedRow } from '@leantune/data';

export interface ManualLabelsOptions {
  path: string;
  /** Default from the file extension (.csv or .jsonl/.json). */
  format?: 'csv' | 'jsonl';
  idField?: string;
  labelField?: string;
}

export interface ManualLabels {
  /** record id → label, the last row for an id winning. */
  labels: Map<string, string>;
  rows: number;
  skipped: SkippedRow[];
  file: string;
}

/** Reads id → label rows with @leantune/data's CSV/JSONL readers; bad rows are counted skips. */
export async function readManualLabels(options: ManualLabelsOptions, baseDir: string): Promise<ManualLabels> {
  const file = isAbsolute(options.path) ? options.path : resolve(baseDir, options.path);
  const format = options.format ?? (extname(file).toLowerCase() === '.csv' ? 'csv' : extname(file).toLowerCase().startsWith('.json') ? 'jsonl' : undefined);
  if (!format) throw new Error(`Stage "label": cannot tell the format of manual labels file ${file}; set data.stages.label.import.format to "csv" or "jsonl"`);
  const fields = { id: options.idField ?? 'id', label: options.labelField ?? 'label' };
  const reader = format === 'csv' ? readCsv(file, { ...fields, header: true }) : readJsonl(file, fields);
  const collected = await collect(reader, { schema: { label: 'single' } });
  const labels = new Map<string, string>();
  const skipped = [...collected.skipped];
  for (const r of collected.records as DataRecord[]) {
    // Readers name a row "<file>:<row>" when it has no id field; such a row cannot be matched.
    if (r.id === `${r.meta.source}:${r.meta.row}`) skipped.push({ source: r.meta.source, row: r.meta.row, reason: 'missing-id', message: `row ${r.meta.row} has no "${fields.id}"` });
    else labels.set(r.id, String(r.label));
  }
  return { labels, rows: collected.rows, skipped, file };
}
