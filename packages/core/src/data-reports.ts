import type { Dataset, StageReport } from './types';

/** How many rows or ids a drop line lists per reason. */
const SHOWN = 5;

const plural = (n: number, word: string) => `${word}${n === 1 ? '' : 's'}`;

function listed(items: readonly (string | number)[], total: number, word: string): string {
  const more = total > items.length ? ', …' : '';
  return `${plural(total, word)} ${items.slice(0, SHOWN).join(', ')}${more}`;
}

/** "2 invalid-json (lines 3, 7)", one per reason, most frequent first. */
function reasonParts(report: StageReport, withExamples: boolean): string[] {
  const rowName = report.rowName ?? 'row';
  return Object.entries(report.dropReasons)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => {
      const rows = report.dropRows?.[reason];
      const ids = report.dropIds?.[reason];
      const where = rows?.length ? listed(rows, n, rowName) : ids?.length ? listed(ids, n, 'id') : '';
      const example = withExamples && report.dropExamples?.[reason] ? `${where ? '; ' : ''}e.g. ${report.dropExamples[reason]}` : '';
      return `${n} ${reason}${where || example ? ` (${where}${example})` : ''}`;
    });
}

/**
 * One line naming what a stage dropped, or undefined when it dropped nothing:
 * "jsonl reader: dropped 2 of 10 lines of data/x.jsonl: 2 invalid-json (lines 3, 7)".
 * `withExamples` adds each reason's first message.
 */
export function formatStageDrops(report: StageReport, withExamples = false): string | undefined {
  if (report.dropped === 0) return undefined;
  const format = report.details?.format;
  const what = report.stage === 'load' ? `${typeof format === 'string' ? format : report.plugin} reader` : `stage "${report.stage}" (${report.plugin})`;
  const unit = report.stage === 'load' ? (report.rowName ?? 'row') : 'record';
  const of = report.source ? ` of ${report.source}` : '';
  return `${what}: dropped ${report.dropped} of ${report.in} ${plural(report.in, unit)}${of}: ${reasonParts(report, withExamples).join(', ')}`;
}

/**
 * Why a dataset has no records left: its source and, stage by stage, what each dropped
 * (reasons with counts and first rows), or that the source held nothing at all.
 */
export function explainEmptyDataset(dataset: Dataset): string {
  const source = dataset.reports.find((r) => r.source)?.source;
  const parts: string[] = [];
  for (const report of dataset.reports) {
    if (report.stage === 'load' && report.in === 0) {
      parts.push(`${report.source ?? 'the source'} is empty (no ${report.rowName ?? 'row'}s to read)`);
      continue;
    }
    const drops = formatStageDrops(report, true);
    if (drops) parts.push(drops);
  }
  const named = source ? ` (${source})` : '';
  return `Dataset "${dataset.name}"${named} has no training records after its stages${parts.length ? `: ${parts.join('; ')}` : ''}.`;
}
