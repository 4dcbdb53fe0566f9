import { createToolkit, datasetLabels, type Logger } from '@leantune/core';
import { tinyDataPlugin } from '@leantune/testing';
import useLitePlugin, { loadUseLiteModel, parseUseLiteSpec } from '@leantune/plugin-use-lite';

const quiet: Logger = { info: () => undefined, warn: () => undefined };

describe('use-lite model options', () => {
  it('fills defaults', () => {
    expect(parseUseLiteSpec({ name: 'use-lite' })).toEqual({ name: 'use-lite', head: 'classification', maxLength: 128 });
  });

  it('rejects bad options with the field, the rule and the value', () => {
    expect(() => parseUseLiteSpec({ name: 'use-lite', maxLength: 300 })).toThrow(/\/maxLength: must be <= 128 \(got 300\)/);
    expect(() => parseUseLiteSpec({ name: 'use-lite', head: 'regression' })).toThrow(/\/head: must be one of "classification", "embedding" \(got "regression"\)/);
    expect(() => parseUseLiteSpec({ name: 'use-lite', labels: ['only'] })).toThrow(/\/labels: must NOT have fewer than 2 items/);
    expect(() => parseUseLiteSpec({ name: 'use-lite', maxLen: 64 })).toThrow(/unknown option "maxLen"; allowed: name, head, labels, maxLength, weightsDir/);
  });

  it('takes labels from a dataset: declared ones first, else the distinct record labels sorted', () => {
    const meta = { source: 's', row: 0 };
    const records = [{ id: '1', label: 'z', meta }, { id: '2', label: 'a', meta }, { id: '3', label: 'z', meta }];
    expect(datasetLabels({ name: 'd', records, reports: [] })).toEqual(['a', 'z']);
    expect(datasetLabels({ name: 'd', records, labels: ['z', 'a'], reports: [] })).toEqual(['z', 'a']);
  });
});

describe('the use-lite plugin', () => {
  it('registers a model loader that a run uses, with labels from the run\'s dataset', async () => {
    const tk = await createToolkit({ plugins: [useLitePlugin, tinyDataPlugin], log: quiet });
    expect(tk.models.list().map((l) => l.name)).toContain('use-lite');
    const run = tk.createRun({ model: { name: 'use-lite' }, data: { name: 'tiny-sentiment' }, trainable: ['classifier\\..*'], runtime: { backend: 'cpu' } });
    const model = await run.loadModel();
    try {
      expect(model.arch).toBe('use-lite');
      expect(model.loader).toBe('use-lite');
      expect(model.labels).toEqual(['neg', 'pos']);
      // The labels came from the run's own dataset (through the stages before ENCODE), loaded once and reused.
      expect((await run.loadData()).name).toBe('tiny-sentiment');
      expect([...model.module.trainableVariables().keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    } finally {
      model.module.dispose();
    }
  });

  it('fails clearly when the classification head has no labels and no data', async () => {
    const tk = await createToolkit({ plugins: [useLitePlugin], log: quiet });
    const run = tk.createRun({ model: { name: 'use-lite' }, runtime: { backend: 'cpu' } });
    await expect(run.loadModel()).rejects.toThrow(/classification head needs labels: set "labels" in the model options, or configure "data"/);
  });

  it('reports invalid options through the run', async () => {
    await expect(loadUseLiteModel({ name: 'use-lite', head: 'embedding', maxLength: 0 }, { log: quiet })).rejects.toThrow(/use-lite model options are invalid:\n {2}\/maxLength: must be >= 1 \(got 0\)/);
  });
});
