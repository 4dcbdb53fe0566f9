import type { DataRecord, Dataset } from '@leantune/core';
import { labelSet, schemaViolation, type RecordSchema } from './records';
import { countReport } from './report';

/** A row a reader could not turn into a record: where it was, a countable reason, and why. */
export interface SkippedRow {
  source: string;
  row: number;
  reason: string;
  message: string;
  /** A skip the config asked for (a `limit`), not bad data. */
  requested?: boolean;
}

/**
 * What streaming readers yield: a record, or a skipped row. Skips travel in the same
 * stream so a consumer cannot lose them by accident; `collect` counts them in a report.
 */
export type ReadItem = { record: DataRecord; skip?: undefined } | { skip: SkippedRow; record?: undefined };

export const skipRow = (source: string, row: number, reason: string, message: string): ReadItem => ({
  skip: { source, row, reason, message },
});

export interface Collected {
  records: DataRecord[];
  skipped: SkippedRow[];
  /** Rows seen: records plus skips. */
  rows: number;
}

/**
 * Drains a reader. With a schema, records that break it become skips too (reason from
 * `schemaViolation`). `limit` stops after that many records, for quick runs.
 */
export async function collect(
  items: AsyncIterable<ReadItem> | Iterable<ReadItem>,
  options: { schema?: RecordSchema; limit?: number } = {},
): Promise<Collected> {
  const out: Collected = { records: [], skipped: [], rows: 0 };
  for await (const item of items) {
    if (options.limit !== undefined && out.records.length >= options.limit) break;
    out.rows++;
    if (item.skip) {
      out.skipped.push(item.skip);
      continue;
    }
    const violation = options.schema ? schemaViolation(item.record, options.schema) : undefined;
    if (violation) {
      const { source, row } = item.record.meta;
      out.skipped.push({ source, row, reason: violation, message: `record ${item.record.id} breaks the schema: ${violation}` });
    } else out.records.push(item.record);
  }
  return out;
}

/** How many skip messages a load report keeps verbatim, so a report stays small. */
const SAMPLE_SKIPS = 10;

/** How many rows per drop reason a load report lists (dropRows), so a report stays small. */
const ROWS_PER_REASON = 5;

/**
 * A Dataset whose first report (stage 'load') counts every skipped row by reason, with the
 * first rows and the first message of each reason. `source` (the file as the config names
 * it) and `rowName` ('line' for line-based files) let the console name what was dropped.
 */
export function toDataset(
  name: string,
  collected: Collected,
  options: { plugin: string; labels?: string[]; details?: Record<string, unknown>; source?: string; rowName?: string },
): Dataset {
  const reasons: Record<string, number> = {};
  const rows: Record<string, number[]> = {};
  const examples: Record<string, string> = {};
  for (const s of collected.skipped) {
    reasons[s.reason] = (reasons[s.reason] ?? 0) + 1;
    const at = (rows[s.reason] ??= []);
    if (at.length < ROWS_PER_REASON) at.push(s.row);
    examples[s.reason] ??= s.message;
  }
  const details: Record<string, unknown> = { ...options.details };
  if (collected.skipped.length > 0) {
    details.skippedSample = collected.skipped.slice(0, SAMPLE_SKIPS).map((s) => `${s.source}:${s.row}: ${s.message}`);
  }
  const report = countReport(
    'load',
    options.plugin,
    { in: collected.rows, out: collected.records.length, dropReasons: reasons },
    Object.keys(details).length > 0 ? details : undefined,
  );
  if (options.source) report.source = options.source;
  if (options.rowName) report.rowName = options.rowName;
  if (collected.skipped.length > 0) Object.assign(report, { dropRows: rows, dropExamples: examples });
  const requested = Object.keys(reasons).filter((reason) => collected.skipped.every((s) => s.reason !== reason || s.requested));
  if (requested.length) report.requested = requested;
  return { name, records: collected.records, labels: options.labels ?? labelSet(collected.records), reports: [report] };
}
