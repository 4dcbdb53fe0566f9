// Shared helpers of the evidence scripts: dataset loading through the datasets plugin, a
// quiet run context, table printing and timing.
import type { Dataset, DatasetLoader, RunContext } from '@leantune/core';
import { createDatasetsPlugin } from '@leantune/plugin-datasets';
import { tf } from '@leantune/tensor';

export function runContext(seed = 42): RunContext {
  return {
    runName: 'evidence',
    config: {} as RunContext['config'],
    tf,
    log: { info: () => {}, warn: (m: string) => console.error(`warning: ${m}`) },
    seed,
    configDir: process.cwd(),
    datasetLabels: async () => undefined,
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
