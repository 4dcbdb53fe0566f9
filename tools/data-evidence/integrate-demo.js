// The integrate stage on real data: two seeded samples of SpamAssassin merged (overlap and
// cross-source dedupe), and Brown's 15 genres mapped to fiction/non-fiction (a deliberate merge,
// refused without allowMerge). Run: node tools/data-evidence/run.cjs tools/data-evidence/integrate-demo.js
const { loadData, table } = require('./common');
const integrate = require('@leantune/plugin-data-integrate').default;

const FICTION = ['adventure', 'fiction', 'mystery', 'romance', 'science_fiction', 'humor'];

async function main() {
  const rows = [];
  const spam = await loadData(
    { name: 'spam-assassin', limit: 1000, stages: { integrate: { sources: [{ spec: { name: 'spam-assassin', limit: 1000, seed: 7 }, as: 'sa-seed7' }] } } },
    [integrate],
  );
  const r1 = spam.reports.find((r) => r.stage === 'integrate');
  rows.push(['spam-assassin (1000/class, seed 42) + spam-assassin (1000/class, seed 7)', r1.in, JSON.stringify(r1.details.overlap), JSON.stringify(r1.dropReasons), r1.out, spam.labels.join(', ')]);
  const brownGenres = (await loadData({ name: 'brown' })).labels;
  const labelMap = Object.fromEntries(brownGenres.map((g) => [g, FICTION.includes(g) ? 'fiction' : 'non-fiction']));
  const brown = await loadData({ name: 'brown', stages: { integrate: { primary: { labelMap, allowMerge: true } } } }, [integrate]);
  const r2 = brown.reports.find((r) => r.stage === 'integrate');
  const counts = {};
  for (const r of brown.records) counts[r.label] = (counts[r.label] ?? 0) + 1;
  rows.push(['brown, 15 genres → fiction / non-fiction (allowMerge)', r2.in, '{}', JSON.stringify(r2.dropReasons), r2.out, JSON.stringify(counts)]);
  console.log(table(['sources', 'in', 'overlap', 'drops', 'out', 'labels'], rows));
  try {
    await loadData({ name: 'brown', stages: { integrate: { primary: { labelMap } } } }, [integrate]);
  } catch (err) {
    console.log(`\nWithout allowMerge: ${err.message.slice(0, 220)}...`);
  }
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
