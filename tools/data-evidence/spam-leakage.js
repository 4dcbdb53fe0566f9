// Leakage between the default 80/20 split of SpamAssassin, without and with the clean stage
// first. Run: node tools/data-evidence/run.cjs tools/data-evidence/spam-leakage.js
const { loadData, table } = require('./common');
const clean = require('@leantune/plugin-data-clean').default;
const validate = require('@leantune/plugin-data-validate').default;

async function main() {
  const rows = [];
  for (const withClean of [false, true]) {
    const stages = { split: { validation: 0.2 }, validate: { leakage: { near: { threshold: 0.9 } } } };
    if (withClean) stages.clean = { nearDuplicates: { threshold: 0.9 } };
    const data = await loadData({ name: 'spam-assassin', stages }, withClean ? [clean, validate] : [validate]);
    const d = data.reports.find((r) => r.stage === 'validate').details;
    rows.push([withClean ? 'clean (exact + near 0.9) first' : 'no clean', d.sizes.train, d.sizes.validation, d.leakage.counts.exact['train-validation'] ?? 0, d.leakage.counts.near['train-validation'] ?? 0]);
  }
  console.log(table(['before split', 'train', 'validation', 'exact leaks', 'near leaks (≥ 0.9)'], rows));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
