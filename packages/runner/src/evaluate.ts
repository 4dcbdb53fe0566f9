import { ConfigError, type DataRecord, type Metrics } from '@leantune/core';
import { overlapWithTraining, recordsOfSplit } from './split-record';
import { classificationReport, trainConfigOf, evaluateLoss, perClassScores, type ClassScores } from '@leantune/train';
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
  /** Classification only: precision, recall, F1 and support per class, in `labels` order. */
  perClass?: ClassScores[];
  /** Where the records came from: the run's recorded split (splits.json), or the dataset's stages. */
  source: string;
  /** Evaluated records that the run trained on (known when its splits.json is). */
  trainingOverlap?: number;
}

interface Chosen {
  split: string;
  records: DataRecord[];
  dataset: string;
  source: string;
}

/**
 * Records of a split: the one asked for, else validation, then test, else every record.
 * A model trained in a run folder with splits.json, evaluated on its own data, takes each
 * split's records by the ids recorded there: exactly the run's split, whatever defaults apply now.
 */
async function splitRecords(trained: TrainedModel, split: string | undefined): Promise<Chosen> {
  if (!trained.config.data) throw new ConfigError('Nothing to evaluate on: give --data <dataset spec JSON>, or a run folder / config with a "data" section.');
  const dataset = await trained.run.loadData();
  const own = trained.split && !trained.dataGiven ? trained.split : undefined;
  if (own) {
    const ids = own.record.ids;
    const name = split ?? ['validation', 'test'].find((n) => ids[n]?.length) ?? 'all';
    if (name === 'all') return { split: name, records: dataset.records, dataset: dataset.name, source: `every record of dataset "${dataset.name}"` };
    return { split: name, records: recordsOfSplit(dataset, own.record, name, own.file), dataset: dataset.name, source: own.file };
  }
  const chosen = stageSplit(dataset, split);
  return { ...chosen, dataset: dataset.name, source: `dataset "${dataset.name}" after its stages` };
}

function stageSplit(dataset: { name: string; records: DataRecord[]; splits?: Record<string, DataRecord[]> }, split: string | undefined): { split: string; records: DataRecord[] } {
  const splits = dataset.splits ?? {};
  if (split) {
    if (split === 'all') return { split, records: dataset.records };
    const records = splits[split];
    if (!records) throw new ConfigError(`Dataset "${dataset.name}" has no "${split}" split; it has: ${[...Object.keys(splits), 'all'].join(', ')}.`);
    return { split, records };
  }
  for (const name of ['validation', 'test']) if (splits[name]?.length) return { split: name, records: splits[name] };
  return { split: 'all', records: dataset.records };
}

/**
 * Evaluates a trained model on a dataset split: loss, accuracy, macro-F1 and the confusion
 * matrix for classifiers (computed as training's per-epoch evaluation is), loss and
 * perplexity for language models.
 */
export async function evaluateTrained(trained: TrainedModel, options: { split?: string; batchSize?: number } = {}): Promise<EvalReport> {
  const { split, records, dataset, source } = await splitRecords(trained, options.split);
  if (!records.length) throw new ConfigError(`The "${split}" split of dataset "${dataset}" is empty.`);
  const batchSize = options.batchSize ?? trainConfigOf(trained.config).batchSize;
  const model = trained.model;
  const base: Omit<EvalReport, 'metrics'> = { origin: trained.origin, dataset, split, count: records.length, source };
  if (trained.split) {
    // Scores on records the model trained on overstate it: say how many there are.
    const overlap = overlapWithTraining(records, trained.split.record);
    base.trainingOverlap = overlap;
    if (overlap > 0 && split !== 'train') {
      trained.run.context.log.warn(
        `${overlap} of the ${records.length} evaluated records (${split} of dataset "${dataset}") are among the ${trained.split.record.ids.train?.length ?? 0} records ` +
          `the model trained on (${trained.split.file}); these metrics overstate it. Leave --data out to evaluate on the run's own validation split.`,
      );
    }
  }
  if (model.labels && model.predict) {
    const m = classificationReport(model, records, batchSize);
    return { ...base, metrics: { loss: m.loss, accuracy: m.accuracy, macro_f1: m.macroF1 }, labels: model.labels, confusion: m.confusion, perClass: perClassScores(m.confusion) };
  }
  return { ...base, metrics: evaluateLoss(model, records, batchSize) };
}

/** The report as a person reads it: metrics, then the confusion matrix as a table. */
export function formatEvalReport(r: EvalReport): string {
  const overlap = r.trainingOverlap ? `, ${r.trainingOverlap} of them trained on` : '';
  const lines = [`${r.origin} on ${r.dataset} (${r.split}, ${r.count} records${overlap}; records from ${r.source})`];
  for (const [k, v] of Object.entries(r.metrics)) lines.push(`  ${k.padEnd(10)} ${v.toFixed(4)}`);
  if (r.labels && r.confusion) {
    const width = Math.max(6, ...r.labels.map((l) => l.length), ...r.confusion.flat().map((n) => String(n).length));
    lines.push('', `  confusion (rows: true, columns: predicted)`);
    lines.push(`  ${''.padEnd(width)} ${r.labels.map((l) => l.padStart(width)).join(' ')}`);
    r.confusion.forEach((row, i) => lines.push(`  ${r.labels![i].padEnd(width)} ${row.map((n) => String(n).padStart(width)).join(' ')}`));
  }
  if (r.labels && r.perClass) {
    const width = Math.max(6, ...r.labels.map((l) => l.length));
    lines.push('', `  ${''.padEnd(width)} ${['precision', 'recall', 'f1', 'support'].map((h) => h.padStart(9)).join(' ')}`);
    r.perClass.forEach((c, i) =>
      lines.push(`  ${r.labels![i].padEnd(width)} ${[c.precision, c.recall, c.f1].map((v) => v.toFixed(4).padStart(9)).join(' ')} ${String(c.support).padStart(9)}`),
    );
  }
  return `${lines.join('\n')}\n`;
}
