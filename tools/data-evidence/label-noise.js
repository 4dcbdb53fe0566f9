// Label-noise detection: flip 5% of labels on purpose (seeded), run the label stage's
// confident-learning check, and score its suspects against the flipped set.
// Run: node tools/data-evidence/run.cjs tools/data-evidence/label-noise.js
const { loadData, table } = require('./common');
const { createRng, shuffle } = require('@leantune/data');
const { createLabelStage } = require('@leantune/plugin-data-label');

function flip(records, labels, rate, seed) {
  const rng = createRng(seed);
  const chosen = new Set(shuffle(records.map((r) => r.id), seed).slice(0, Math.round(records.length * rate)));
  const out = records.map((r) => {
    if (!chosen.has(r.id)) return r;
    const others = labels.filter((l) => l !== String(r.label));
    return { ...r, label: others[Math.floor(rng() * others.length)] };
  });
  return { records: out, flipped: chosen };
}

async function score(name, data, noise, seed) {
  const { records, flipped } = flip(data.records, data.labels, 0.05, seed);
  const t0 = Date.now();
  const ctx = { seed, log: { info() {}, warn: console.error }, configDir: process.cwd() };
  const out = await createLabelStage().run({ ...data, records }, { noise: { ...noise, listed: 100000 } }, ctx);
  const suspects = new Set(out.reports.at(-1).details.noise.suspects.map((s) => s.id));
  const hits = [...suspects].filter((id) => flipped.has(id)).length;
  return [name, records.length, flipped.size, suspects.size, hits, (hits / suspects.size).toFixed(3), (hits / flipped.size).toFixed(3), `k=${noise.k}, ${noise.folds} folds`, ((Date.now() - t0) / 1000).toFixed(1)];
}

async function main() {
  const rows = [];
  const spam = await loadData({ name: 'spam-assassin', limit: 500 });
  rows.push(await score('SpamAssassin (500/class, TF-IDF)', spam, { folds: 5, k: 10 }, 1));
  const brownDocs = await loadData({ name: 'brown' });
  rows.push(await score('Brown documents (all 500, TF-IDF)', brownDocs, { folds: 5, k: 10 }, 1));
  const brown = await loadData({ name: 'brown', level: 'sentence', limit: 150 });
  rows.push(await score('Brown sentences (150/genre, TF-IDF)', brown, { folds: 5, k: 10 }, 1));
  const mnist = await loadData({ name: 'mnist', limit: 200 });
  rows.push(await score('MNIST (200/digit, pixels)', mnist, { folds: 5, k: 10 }, 1));
  console.log(table(['data', 'records', 'flipped (5%)', 'suspects', 'true hits', 'precision', 'recall', 'kNN', 'seconds'], rows));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
