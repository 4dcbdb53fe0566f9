import { ConfigError, type DataRecord, type Metrics } from '@leantune/core';
import { classificationReport, evaluateLoss } from '@leantune/train';
import type { TrainedModel } from './restore';

export interface EvalReport {
  origin: string;
  dataset: string;
  split: string;
  count: number;
  metrics: Metrics;
  /** Classification only: class names, and counts with rows = true class, columns = predicted. */
  labels?: string[];
  confusion?: number[][];
}

/** Records of a split: the one asked for, else validation, then test, else every record. */
async function splitRecords(trained: TrainedModel, split: string | undefined): Promise<{ split: string; records: DataRecord[]; dataset: string }> {
  if (!trained.config.data) throw new ConfigError('Nothing to evaluate on: give --data <dataset spec JSON>, or a run folder / config with a "data" section.');
  const dataset = await trained.run.loadData();
  const splits = dataset.splits ?? {};
  if (split) {
    if (split === 'all') return { split, records: dataset.records, dataset: dataset.name };
    const records = splits[split];
    if (!records) throw new ConfigError(`Dataset "${dataset.name}" has no "${split}" split; it has: ${[...Object.keys(splits), 'all'].join(', ')}.`);
    return { split, records, dataset: dataset.name };
  }
  for (const name of ['validation', 'test']) if (splits[name]?.length) return { split: name, records: splits[name], dataset: dataset.name };
  return { split: 'all', records: dataset.records, dataset: dataset.name };
}

/**
 * Evaluates a trained model on a dataset split: loss, accuracy, macro-F1 and the confusion
 * matrix for classifiers (computed as training's per-epoch evaluation is), loss and
 * perplexity for language models.
 */
export async function evaluateTrained(trained: TrainedModel, options: { split?: string; batchSize?: number } = {}): Promise<EvalReport> {
  const { split, records, dataset } = await splitRecords(trained, options.split);
  if (!records.length) throw new ConfigError(`The "${split}" split of dataset "${dataset}" is empty.`);
  const batchSize = options.batchSize ?? trained.config.train.batchSize;
  const model = trained.model;
  const base = { origin: trained.origin, dataset, split, count: records.length };
  if (model.labels && model.predict) {
    const m = classificationReport(model, records, batchSize);
    return { ...base, metrics: { loss: m.loss, accuracy: m.accuracy, macro_f1: m.macroF1 }, labels: model.labels, confusion: m.confusion };
  }
  return { ...base, metrics: evaluateLoss(model, records, batchSize) };
}

/** The report as a person reads it: metrics, then the confusion matrix as a table. */
export function formatEvalReport(r: EvalReport): string {
  const lines = [`${r.origin} on ${r.dataset} (${r.split}, ${r.count} records)`];
  for (const [k, v] of Object.entries(r.metrics)) lines.push(`  ${k.padEnd(10)} ${v.toFixed(4)}`);
  if (r.labels && r.confusion) {
    const width = Math.max(6, ...r.labels.map((l) => l.length), ...r.confusion.flat().map((n) => String(n).length));
    lines.push('', `  confusion (rows: true, columns: predicted)`);
    lines.push(`  ${''.padEnd(width)} ${r.labels.map((l) => l.padStart(width)).join(' ')}`);
    r.confusion.forEach((row, i) => lines.push(`  ${r.labels![i].padEnd(width)} ${row.map((n) => String(n).padStart(width)).join(' ')}`));
  }
  return `${lines.join('\n')}\n`;
}
