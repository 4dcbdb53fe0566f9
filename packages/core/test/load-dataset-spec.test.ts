import { createToolkit, definePlugin, STAGE, type Dataset } from '@leantune/core';

const quiet = { info: () => {}, warn: () => {} };

/** A loader answering "mem-a" and "mem-b", each with one record naming its dataset and options. */
const memoryData = definePlugin({
  meta: { name: 'memory-data', version: '0.1.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.datasets.register({
      name: 'memory',
      datasets: ['mem-a', 'mem-b'],
      test: (spec) => spec.name === 'mem-a' || spec.name === 'mem-b',
      load: async (spec): Promise<Dataset> => ({
        name: spec.name,
        records: [{ id: `${spec.name}:0`, text: String(spec.text ?? ''), label: 'x', meta: { source: spec.name, row: 0 } }],
        reports: [],
      }),
    });
  },
});

describe('RunContext.loadDatasetSpec', () => {
  it('loads another spec through the run loaders without running the stages, from inside a stage', async () => {
    let stageCalls = 0;
    const merging = definePlugin({
      meta: { name: 'merging', version: '0.1.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.stages.register({
          name: 'merge',
          stage: STAGE.INTEGRATE,
          async run(dataset, _options, runCtx) {
            stageCalls++;
            const other = await runCtx.loadDatasetSpec({ name: 'mem-b', text: 'from b' });
            return { ...dataset, records: [...dataset.records, ...other.records] };
          },
        });
      },
    });
    const toolkit = await createToolkit({ plugins: [memoryData, merging], log: quiet });
    const run = toolkit.createRun({ model: 'none', data: { name: 'mem-a', text: 'from a' } });
    const dataset = await run.loadData();
    expect(dataset.records.map((r) => [r.id, r.text])).toEqual([
      ['mem-a:0', 'from a'],
      ['mem-b:0', 'from b'],
    ]);
    // The stage ran once: loading mem-b did not re-enter the stage waterfall.
    expect(stageCalls).toBe(1);
  });

  it('fails naming the dataset and the loaders asked when no loader knows the spec, and rejects a spec without a name', async () => {
    const toolkit = await createToolkit({ plugins: [memoryData], log: quiet });
    const run = toolkit.createRun({ model: 'none' });
    await expect(run.context.loadDatasetSpec({ name: 'mem-c' })).rejects.toThrow(/No dataset loader recognised dataset "mem-c". Loaders asked: memory/);
    await expect(run.context.loadDatasetSpec({} as { name: string })).rejects.toThrow(/A dataset spec needs a "name"/);
  });
});

describe('opt-in dataset stages', () => {
  it('run only for configs that name them under data.stages; other stages of the plugin always run', async () => {
    const calls: string[] = [];
    const staging = definePlugin({
      meta: { name: 'staging', version: '0.1.0', core: '^0.1.0' },
      apply(ctx) {
        ctx.stages.register({ name: 'always', stage: STAGE.CLEAN, run: (d) => (calls.push('always'), d) });
        ctx.stages.register({ name: 'packing', stage: STAGE.CLEAN + 1, optIn: true, optionsSchema: { type: 'object', properties: { size: { type: 'integer', default: 4 } } }, run: (d, o) => (calls.push(`packing ${JSON.stringify(o)}`), d) });
      },
    });
    const toolkit = await createToolkit({ plugins: [memoryData, staging], log: quiet });
    await toolkit.createRun({ model: 'none', data: { name: 'mem-a', stages: {} } }).loadData();
    expect(calls).toEqual(['always']);
    calls.length = 0;
    await toolkit.createRun({ model: 'none', data: { name: 'mem-a', stages: { packing: {} } } }).loadData();
    expect(calls).toEqual(['always', 'packing {"size":4}']);
  });
});
