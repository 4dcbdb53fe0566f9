import type { Dataset } from '@leantune/core';
import { driftReport, formatDriftReport, type DriftOptions, type DriftReport } from './drift';

export interface DriftCommandResult {
  report: DriftReport;
  text: string;
  /** 0 when no retraining is due; 3 when it is and `failOnRetrain` was asked (for CI gates). */
  exitCode: number;
}

/**
 * `leantune data drift`: compares the current dataset (its `split`, default every record)
 * against the reference dataset and returns the report, a readable summary, and an exit code.
 */
export function runDataDrift(
  reference: Dataset,
  current: Dataset,
  options: DriftOptions & { referenceSplit?: string; currentSplit?: string; failOnRetrain?: boolean } = {},
): DriftCommandResult {
  const pick = (ds: Dataset, split: string | undefined, flag: string) => {
    if (!split || split === 'all') return ds.records;
    const list = ds.splits?.[split];
    if (!list) throw new Error(`${flag} "${split}" is not a split of dataset "${ds.name}" (splits: ${Object.keys(ds.splits ?? {}).join(', ') || 'none'})`);
    return list;
  };
  const report = driftReport(pick(reference, options.referenceSplit, '--reference-split'), pick(current, options.currentSplit, '--current-split'), options);
  return { report, text: formatDriftReport(report), exitCode: options.failOnRetrain && report.verdict === 'retrain' ? 3 : 0 };
}
