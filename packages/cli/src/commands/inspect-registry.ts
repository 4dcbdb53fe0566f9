import { stageLabel, type Toolkit } from '@leantune/core';

/** What `leantune plugins` prints: everything the enabled plugins registered. */
export function describeRegistry(tk: Toolkit) {
  return {
    // The file that was loaded and its package (from its own package.json): meta.name is only what the plugin says.
    plugins: tk.plugins.map(({ plugin, origin }) => ({
      name: plugin.meta.name,
      version: plugin.meta.version,
      core: plugin.meta.core,
      package: origin?.package ? `${origin.package.name}@${origin.package.version}` : undefined,
      file: origin?.file,
    })),
    methods: tk.methods.list().map((m) => ({ id: m.id, prefix: m.prefix, family: m.family, plugin: m.plugin })),
    modelLoaders: tk.models.list().map((l) => ({ name: l.name, models: l.models ?? [], plugin: l.plugin })),
    datasetLoaders: tk.datasets.list().map((l) => ({ name: l.name, datasets: l.datasets ?? [], plugin: l.plugin })),
    datasetStages: tk.stages.ordered().map((s) => ({ name: s.name, stage: s.stage, at: stageLabel(s.stage), plugin: s.plugin })),
    commands: tk.commands.list().map((c) => ({ command: `leantune ${c.name}`, plugin: c.plugin })),
  };
}

function table(rows: Record<string, unknown>[], empty: string): string {
  if (!rows.length) return `  ${empty}\n`;
  const keys = Object.keys(rows[0]);
  const cells = rows.map((r) => keys.map((k) => (Array.isArray(r[k]) ? (r[k] as unknown[]).join(',') : r[k] === undefined ? '-' : String(r[k]))));
  const widths = keys.map((k, i) => Math.max(k.length, ...cells.map((c) => c[i].length)));
  const line = (vals: string[]) => `  ${vals.map((v, i) => v.padEnd(widths[i])).join('  ')}`.trimEnd();
  return [line(keys), ...cells.map(line)].join('\n') + '\n';
}

export function formatRegistry(tk: Toolkit): string {
  const r = describeRegistry(tk);
  return [
    `Plugins (${r.plugins.length}):\n${table(r.plugins, 'none')}`,
    `Methods (${r.methods.length}):\n${table(r.methods, 'none')}`,
    `Model loaders (${r.modelLoaders.length}):\n${table(r.modelLoaders, 'none')}`,
    `Dataset loaders (${r.datasetLoaders.length}):\n${table(r.datasetLoaders, 'none')}`,
    `Dataset stages, in run order (${r.datasetStages.length}):\n${table(r.datasetStages, 'none')}`,
    `Commands (${r.commands.length}):\n${table(r.commands, 'none')}`,
  ].join('\n');
}
