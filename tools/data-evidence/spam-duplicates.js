// Duplicates in SpamAssassin found by the clean stage: exact, then near at several thresholds.
// Run: node tools/data-evidence/run.cjs tools/data-evidence/spam-duplicates.js
const { loadData, table } = require('./common');
const clean = require('@leantune/plugin-data-clean').default;

async function main() {
  const rows = [];
  for (const threshold of [0.95, 0.9, 0.8, 0.7]) {
    const t0 = Date.now();
    const data = await loadData({ name: 'spam-assassin', stages: { clean: { nearDuplicates: { threshold } } } }, [clean]);
    const rep = data.reports.find((r) => r.stage === 'clean');
    const d = rep.dropReasons;
    rows.push([threshold, rep.in, d['empty-text'] ?? 0, d['exact-duplicate'] ?? 0, d['near-duplicate'] ?? 0, rep.details.near.pairs, rep.details.conflictCount, rep.changed, rep.out, ((Date.now() - t0) / 1000).toFixed(1)]);
    if (threshold === 0.9) console.error('sample near pairs at 0.9:', JSON.stringify(rep.details.near.pairSample.slice(0, 3)));
  }
  console.log(table(['near threshold', 'in', 'empty', 'exact dups dropped', 'near dups dropped', 'near pairs', 'label conflicts', 'normalised', 'out', 'seconds'], rows));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
