// Evidence for @leantune/plugin-data-compress: pack size vs raw size for SpamAssassin and
// MNIST, gzip vs brotli, with and without fp16/uint8 quantisation; every pack is unpacked
// (integrity-checked) and timed.   node tools/data-evidence/run.cjs tools/data-evidence/compress.ts
import { promises as fs } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Dataset } from '@leantune/core';
import { exportJsonl, packDataset, unpackDataset, type Compression, type QuantizeMode } from '@leantune/plugin-data-compress';
import { fmt, loadDataset, table, timed } from './common';

async function main(): Promise<void> {
  const work = await fs.mkdtemp(join(tmpdir(), 'leantune-compress-evidence-'));
  const rows: Array<Array<string | number>> = [];
  const arms: Array<[Compression, QuantizeMode]> = [
    ['none', 'none'],
    ['gzip', 'none'],
    ['brotli', 'none'],
    ['gzip', 'fp16'],
    ['brotli', 'fp16'],
    ['gzip', 'uint8'],
    ['brotli', 'uint8'],
  ];
  const datasets: Array<[string, Dataset]> = [
    ['spam-assassin', await loadDataset('spam-assassin')],
    ['mnist', await loadDataset('mnist')],
  ];
  for (const [name, ds] of datasets) {
    const jsonl = join(work, `${name}.jsonl`);
    await exportJsonl(ds, jsonl);
    const jsonlBytes = (await fs.stat(jsonl)).size;
    let raw = 0;
    for (const [compression, quantize] of arms) {
      if (name === 'spam-assassin' && quantize !== 'none') continue; // no float arrays to quantise
      const dir = join(work, `${name}-${compression}-${quantize}`);
      const [summary, packS] = await timed(() => packDataset(ds, dir, { compression, quantize }));
      const [back, unpackS] = await timed(() => unpackDataset(dir));
      if (back.records.length !== ds.records.length) throw new Error('record count changed');
      const bytes = summary.manifest.totals.bytes;
      if (compression === 'none') raw = bytes;
      rows.push([
        name,
        ds.records.length,
        compression,
        quantize,
        fmt(bytes / 1e6, 2),
        fmt(raw / bytes, 2),
        fmt(jsonlBytes / bytes, 1),
        summary.manifest.shards.length,
        fmt(packS, 2),
        fmt(unpackS, 2),
        summary.manifest.quantization.maxAbsError.toExponential(2),
      ]);
      await fs.rm(dir, { recursive: true });
    }
    rows.push([name, ds.records.length, 'JSONL (numbers as text)', '-', fmt(jsonlBytes / 1e6, 2), fmt(raw / jsonlBytes, 2), '1.0', '-', '-', '-', '-']);
  }
  await fs.rm(work, { recursive: true });
  console.log(table(['dataset', 'records', 'compression', 'quantise', 'MB', 'raw ÷ size', 'JSONL ÷ size', 'shards', 'pack s', 'unpack s', 'max abs err'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
