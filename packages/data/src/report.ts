import type { DataRecord, Dataset, StageReport } from '@leantune/core';

/** Drop reasons are short kebab-case keys ('invalid-json'), so reports can be summed. */
const REASON = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** How many record ids per drop reason a stage report lists (dropIds). */
const IDS_PER_REASON = 5;

function checkReason(reason: string, stage: string): void {
  if (!REASON.test(reason)) {
    throw new Error(`Stage "${stage}": drop reason "${reason}" must be a short kebab-case key such as "empty-text"`);
  }
}

/**
 * Builds a StageReport from what a stage saw and what it kept, and enforces the rule that
 * every record missing from the output was dropped with a reason (no silent drops).
 *
 *   const rep = new StageReporter('clean', plugin, dataset.records);
 *   rep.drop(record, 'empty-text'); rep.change(record);
 *   dataset = appendReport({ ...dataset, records: kept }, rep.finish(kept));
 */
export class StageReporter {
  private readonly drops = new Map<string, string>();
  private readonly changed = new Set<string>();
  private readonly reasonCounts: Record<string, number> = {};
  /** Per reason, the first few ids dropped (the console names them). */
  private readonly reasonIds: Record<string, string[]> = {};

  constructor(
    readonly stage: string,
    readonly plugin: string,
    private readonly input: readonly DataRecord[],
  ) {}

  drop(record: DataRecord, reason: string): void {
    checkReason(reason, this.stage);
    if (this.drops.has(record.id)) return;
    this.drops.set(record.id, reason);
    this.reasonCounts[reason] = (this.reasonCounts[reason] ?? 0) + 1;
    const ids = (this.reasonIds[reason] ??= []);
    if (ids.length < IDS_PER_REASON) ids.push(record.id);
  }

  change(record: DataRecord): void {
    this.changed.add(record.id);
  }

  /** Throws, naming the records, when an input record vanished without a drop reason. */
  finish(output: readonly DataRecord[], details?: Record<string, unknown>): StageReport {
    const kept = new Set(output.map((r) => r.id));
    const unexplained = this.input.filter((r) => !kept.has(r.id) && !this.drops.has(r.id)).map((r) => r.id);
    if (unexplained.length > 0) {
      const shown = unexplained.slice(0, 5).join(', ');
      throw new Error(
        `Stage "${this.stage}" (${this.plugin}) dropped ${unexplained.length} record(s) without a reason (${shown}${unexplained.length > 5 ? ', ...' : ''}); call drop(record, reason) for each`,
      );
    }
    const report: StageReport = {
      stage: this.stage,
      plugin: this.plugin,
      in: this.input.length,
      out: output.length,
      changed: [...this.changed].filter((id) => kept.has(id)).length,
      dropped: this.drops.size,
      dropReasons: { ...this.reasonCounts },
    };
    if (this.drops.size > 0) report.dropIds = structuredClone(this.reasonIds);
    if (details) report.details = details;
    return report;
  }
}

/** Counts of reasons, for stages (and readers) that skip rows before they become records. */
export function countReasons(reasons: Iterable<string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const reason of reasons) out[reason] = (out[reason] ?? 0) + 1;
  return out;
}

/** A report for a stage that only knows counts (e.g. a reader that skipped unparsable rows). */
export function countReport(
  stage: string,
  plugin: string,
  counts: { in: number; out: number; changed?: number; dropReasons: Record<string, number> },
  details?: Record<string, unknown>,
): StageReport {
  for (const reason of Object.keys(counts.dropReasons)) checkReason(reason, stage);
  const dropped = Object.values(counts.dropReasons).reduce((a, b) => a + b, 0);
  if (counts.in - dropped > counts.out) {
    throw new Error(`Stage "${stage}" (${plugin}): ${counts.in} in, ${counts.out} out but only ${dropped} drop(s) have a reason`);
  }
  const report: StageReport = { stage, plugin, in: counts.in, out: counts.out, changed: counts.changed ?? 0, dropped, dropReasons: { ...counts.dropReasons } };
  if (details) report.details = details;
  return report;
}

/** A new Dataset with the report appended; the input dataset is left as it was. */
export function appendReport(dataset: Dataset, report: StageReport): Dataset {
  return { ...dataset, reports: [...dataset.reports, report] };
}
