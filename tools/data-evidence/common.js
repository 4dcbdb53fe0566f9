// Shared by the evidence scripts (run through run.cjs, which maps @leantune/* to src):
// load a bundled dataset through the real toolkit.
const { createToolkit } = require('@leantune/core');
const datasets = require('@leantune/plugin-datasets').default;

const quiet = { info: () => {}, warn: () => {} };

/** Loads `data` (a config data section) through plugin-datasets plus the given plugins and stages. */
async function loadData(data, plugins = [], seed = 42) {
  const toolkit = await createToolkit({ plugins: [datasets, ...plugins], log: quiet });
  return toolkit.createRun({ model: 'none', data, runtime: { seed } }).loadData();
}

/** A markdown table from rows of cells. */
function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

module.exports = { loadData, table, quiet };
