import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Dataset } from '@leantune/core';
import { labelCounts } from '@leantune/data';

/**
 * Writes records as JSON Lines (typed arrays as plain number lists, splits as `split`), the
 * form every other tool reads. Written to a temp name and renamed, like the pack files.
 */
export async function exportJsonl(dataset: Dataset, file: string): Promise<number> {
  const { rename, rm } = await import('node:fs/promises');
  const tmp = `${file}.tmp-${process.pid}`;
  const splitOf = new Map<string, string>();
  for (const [name, list] of Object.entries(dataset.splits ?? {})) for (const r of list) splitOf.set(r.id, name);
  const out = createWriteStream(tmp);
  try {
    for (const r of dataset.records) {
      const line = JSON.stringify({ ...r, ...(splitOf.has(r.id) ? { split: splitOf.get(r.id) } : {}) }, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as Float32Array) : v));
      if (!out.write(`${line}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    await rename(tmp, file);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
  return dataset.records.length;
}

/** One JSON object describing an unpacked dataset, for `leantune data unpack`. */
export function describeDataset(dataset: Dataset): Record<string, unknown> {
  return {
    name: dataset.name,
    records: dataset.records.length,
    labels: labelCounts(dataset.records),
    ...(dataset.splits ? { splits: Object.fromEntries(Object.entries(dataset.splits).map(([k, v]) => [k, v.length])) } : {}),
  };
}
