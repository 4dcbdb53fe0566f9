import { SWEEP_SCHEMA } from '@leantune/queue';
import { fromInstalled } from '@leantune/runner';
import { createTrainDriver } from '@leantune/train';
import { join } from 'node:path';

const repo = join(__dirname, '..', '..', '..');

// Issue 19 part 6: every numeric option of every schema an installed plugin, the trainer or
// the envelope registers has both bounds, so a hostile value (1e308, -1e308) fails in
// `validate` with its JSON pointer instead of at train time.

type Node = Record<string, unknown>;

function unbounded(node: unknown, at: string, out: string[]): string[] {
  if (!node || typeof node !== 'object') return out;
  if (Array.isArray(node)) {
    node.forEach((n, i) => unbounded(n, `${at}/${i}`, out));
    return out;
  }
  const n = node as Node;
  const types = ([] as unknown[]).concat(n.type ?? []);
  const numeric = types.includes('number') || types.includes('integer');
  if (numeric && n.enum === undefined && n.const === undefined) {
    if ((n.maximum ?? n.exclusiveMaximum) === undefined) out.push(`${at}: no maximum`);
    if ((n.minimum ?? n.exclusiveMinimum) === undefined) out.push(`${at}: no minimum`);
  }
  for (const [key, value] of Object.entries(n)) unbounded(value, `${at}/${key}`, out);
  return out;
}

describe('numeric options have bounds', () => {
  it('in the combined schema, every loader, stage and plugin option schema, and the sweep', async () => {
    const toolkit = await fromInstalled(repo, (m) => {
      throw new Error(m);
    });
    toolkit.trainer ??= createTrainDriver();
    const roots: Record<string, unknown> = { config: toolkit.combinedSchema(), sweep: SWEEP_SCHEMA };
    for (const l of toolkit.models.list()) roots[`model loader ${l.name}`] = l.optionsSchema;
    for (const l of toolkit.datasets.list()) roots[`dataset loader ${l.name}`] = l.optionsSchema;
    for (const { plugin } of toolkit.plugins) roots[`plugin ${plugin.meta.name}`] = plugin.optionsSchema;
    // The walk sees the plugins it should: methods, stages and loaders of the repo's own plugins.
    expect(Object.keys((roots.config as { properties: { methods: { properties: object } } }).properties.methods.properties)).toEqual(expect.arrayContaining(['lora', 'adapter', 'p-tuning']));
    expect(Object.keys(roots)).toEqual(expect.arrayContaining(['model loader hf', 'plugin @leantune/plugin-track-mlflow']));
    const problems = Object.entries(roots).flatMap(([name, schema]) => unbounded(schema, name, []));
    expect(problems).toEqual([]);
  });

  it('finds an unbounded number where there is one', () => {
    expect(unbounded({ properties: { a: { type: 'number', minimum: 0 }, b: { type: ['integer', 'null'], minimum: 1, maximum: 2 } } }, 'x', [])).toEqual(['x/properties/a: no maximum']);
  });
});
