// Evidence for @leantune/plugin-data-monitor: drift scores between MNIST and Fashion-MNIST,
// between two random halves of MNIST, and for a label shift; text statistics on SpamAssassin.
//   node tools/data-evidence/run.cjs tools/data-evidence/monitor.ts
import type { DataRecord } from '@leantune/core';
import { shuffle } from '@leantune/data';
import { driftReport, type DriftReport } from '@leantune/plugin-data-monitor';
import { fmt, loadDataset, table, timed } from './common';

function row(name: string, ref: readonly DataRecord[], cur: readonly DataRecord[], r: DriftReport, seconds: number): Array<string | number> {
  const f = r.features;
  return [
    name,
    `${ref.length} / ${cur.length}`,
    `${f.count} ${f.source}`,
    fmt(f.psiMean, 4),
    fmt(f.psiMax, 3),
    fmt(f.ksMean, 4),
    `${f.drifted} (${fmt(f.driftedShare * 100, 1)}%)`,
    r.labels ? fmt(r.labels.psi, 4) : '-',
    r.labels ? `${fmt(r.labels.chiSquare, 1)} / ${r.labels.pValue.toExponential(1)}` : '-',
    r.verdict,
    fmt(seconds, 1),
  ];
}

async function main(): Promise<void> {
  const mnist = (await loadDataset('mnist')).records;
  const fashion = (await loadDataset('fashion-mnist', { subset: 'test' })).records;
  const mixed = shuffle(mnist, 7);
  const halfA = mixed.slice(0, 5000);
  const halfB = mixed.slice(5000);
  // Label shift with the same kind of images: the second half keeps only digits 0-4.
  const lowDigits = halfB.filter((r) => Number(r.label) <= 4);
  const spam = (await loadDataset('spam-assassin')).records;
  const ham = spam.filter((r) => r.label === 'ham');
  const spamOnly = spam.filter((r) => r.label === 'spam');
  const spamMixed = shuffle(spam, 7);
  const cases: Array<[string, DataRecord[], DataRecord[], Parameters<typeof driftReport>[2]]> = [
    ['MNIST half A vs half B (random)', halfA, halfB, {}],
    ['MNIST vs Fashion-MNIST (test)', mnist, fashion, { labels: false }],
    ['MNIST vs Fashion-MNIST, labels compared as names', mnist, fashion, {}],
    ['MNIST half A vs half B digits 0-4 only', halfA, lowDigits, {}],
    ['SpamAssassin half A vs half B (random)', spamMixed.slice(0, 3023), spamMixed.slice(3023), { features: 'text-stats' }],
    ['SpamAssassin ham vs spam', ham, spamOnly, { features: 'text-stats', labels: false }],
  ];
  const rows = [];
  for (const [name, ref, cur, options] of cases) {
    const [r, s] = await timed(() => driftReport(ref, cur, options));
    rows.push(row(name, ref, cur, r, s));
  }
  console.log(table(['comparison', 'records ref / cur', 'features', 'mean PSI', 'max PSI', 'mean KS D', 'KS-drifted features', 'label PSI', 'label χ² / p', 'verdict', 's'], rows));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
