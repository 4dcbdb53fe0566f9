// Shared helpers of the evidence scripts: dataset loading through the datasets plugin, a
// quiet run context, table printing and timing.
import type { Batch, DataRecord, Dataset, DatasetLoader, LoadedModel, RunContext } from '@leantune/core';
import { shuffle } from '@leantune/data';
import { createDatasetsPlugin } from '@leantune/plugin-datasets';
import { initBackend, tf } from '@leantune/tensor';
import { evaluateClassifier, fit } from '@leantune/train';

export function runContext(seed = 42): RunContext {
  return {
    runName: 'evidence',
    config: {} as RunContext['config'],
    tf,
    log: { info: () => {}, warn: (m: string) => console.error(`warning: ${m}`) },
    seed,
    configDir: process.cwd(),
    datasetLabels: async () => undefined,
    loadDatasetSpec: async (spec) => loadDataset(spec.name, spec, seed),
    state: new Map(),
  };
}

let loaders: DatasetLoader[] | undefined;

/** Loads a bundled dataset (spam-assassin, brown, mnist, fashion-mnist) with its loader options. */
export async function loadDataset(name: string, options: Record<string, unknown> = {}, seed = 42): Promise<Dataset> {
  if (!loaders) {
    const found: DatasetLoader[] = [];
    await createDatasetsPlugin().apply({ options: {}, datasets: { register: (l: DatasetLoader) => found.push(l) }, stages: { register: () => {} } } as never);
    loaders = found;
  }
  const loader = loaders.find((l) => l.test({ name }));
  if (!loader) throw new Error(`no loader for ${name}`);
  return loader.load({ name, ...options }, runContext(seed));
}

export function table(header: string[], rows: Array<Array<string | number>>): string {
  const line = (cells: Array<string | number>) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export async function timed<T>(fn: () => Promise<T> | T): Promise<[T, number]> {
  const t = performance.now();
  const out = await fn();
  return [out, (performance.now() - t) / 1000];
}

export const fmt = (x: number, digits = 3) => x.toFixed(digits);

/** The fastest backend available (native/wasm/cpu), as a run would pick; returns its name. */
export async function fastBackend(): Promise<string> {
  const info = await initBackend({ backend: 'auto' });
  return `${info.name} (${info.threads} threads)`;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** A loss to use instead of model.loss (e.g. an EWC-wrapped one). */
  loss?: LoadedModel['loss'];
}

/** Trains a LoadedModel's trainable parameters on records with @leantune/train's fit. */
export async function trainModel(model: LoadedModel, records: readonly DataRecord[], o: TrainOptions): Promise<void> {
  const loss = o.loss ?? model.loss!;
  await fit<Batch>({
    model: model.module,
    loss: (batch, training) => loss.call(model, batch, training),
    trainSet: { length: records.length, getBatch: (idx) => model.encode!(idx.map((i) => records[i])) },
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: { name: 'adamw', lr: o.lr, weightDecay: 0 },
    seed: o.seed,
  });
}

export const accuracy = (model: LoadedModel, records: readonly DataRecord[]) => evaluateClassifier(model, records, 500).accuracy;

/** At most `n` records per label, a seeded draw. */
export function perClass(records: readonly DataRecord[], n: number, seed: number): DataRecord[] {
  const byLabel = new Map<string, DataRecord[]>();
  for (const r of shuffle(records, seed)) {
    const list = byLabel.get(String(r.label)) ?? [];
    if (list.length < n) list.push(r);
    byLabel.set(String(r.label), list);
  }
  return [...byLabel.values()].flat();
}

export const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
export const sd = (xs: number[]) => Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / Math.max(1, xs.length - 1));
