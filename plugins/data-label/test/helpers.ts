import { definePlugin, type DataRecord, type Dataset, type RunContext } from '@leantune/core';

export const quiet = { info: () => {}, warn: () => {} };

/** The slice of a RunContext a stage uses, for calling a stage directly. */
export function stageContext(seed = 7, warnings: string[] = []): RunContext {
  return { seed, log: { info: () => {}, warn: (m: string) => warnings.push(m) }, configDir: process.cwd(), state: new Map() } as unknown as RunContext;
}

export const rec = (id: string, fields: Partial<DataRecord>): DataRecord => ({ id, meta: { source: 'hand', row: Number(id.replace(/\D/g, '')) || 0 }, ...fields });

export const dataset = (records: DataRecord[]): Dataset => ({ name: 'hand', records, reports: [] });

/** A loader plugin answering data.name "memory" with the given records. */
export function memoryData(records: DataRecord[]) {
  return definePlugin({
    meta: { name: 'memory-data', version: '0.1.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.datasets.register({ name: 'memory', datasets: ['memory'], test: (s) => s.name === 'memory', load: async () => dataset(records) });
    },
  });
}
