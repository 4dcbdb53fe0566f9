import { createToolkit, definePlugin, type Toolkit } from '@leantune/core';
import { Node as Tree, claims, pathsTrainedBy, quietLog as quiet, runsOfOneConfig, tinyDataPlugin, tinyModelPlugin } from '@leantune/testing';
import { Linear, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import baselines, { findHead } from '../src';

/**
 * A method that, like LoRA, moves encoder.dense under a new path (encoder.dense.base_layer)
 * and trains nothing itself: a second handle on the model of a linear-probe run.
 */
const wrapDensePlugin = definePlugin({
  meta: { name: '@baselines-test/wrap-dense', version: '0.1.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.methods.register({
      id: 'wrap-dense',
      family: 'adapter',
      configSchema: { type: 'object', additionalProperties: false, properties: {} },
      inject(model, config) {
        const dense = model.module.getSubmodule('encoder.dense');
        model.module.setSubmodule('encoder.dense', new Tree({ base_layer: dense }, (self, x) => self.call('base_layer', x)));
        return { config, trains: () => false };
      },
    });
  },
});

describe('@leantune/plugin-baselines', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, baselines, wrapDensePlugin], trainer: createTrainDriver(), log: quiet });
  });

  const run = (methods: Record<string, unknown>, epochs = 3) =>
    toolkit.createRun({ model: 'tiny-text', methods, data: { name: 'tiny-sentiment' }, train: { epochs, batchSize: 8, learningRate: 0.05 }, runtime: { seed: 2 } });

  it('registers full, linear-probe and zero-shot as baselines, with no prefix (they add no parameters) and their capability flags', () => {
    expect(toolkit.methods.list().filter((m) => m.family === 'baseline').map((m) => [m.id, m.prefix, Boolean(m.inPlace), Boolean(m.trainsNothing)])).toEqual([
      ['full', undefined, true, false],
      ['linear-probe', undefined, true, false],
      ['zero-shot', undefined, false, true],
    ]);
  });

  it('full: every parameter trains and the loss falls without leaks', async () => {
    const r = run({ full: {} });
    const model = await r.loadModel();
    expect(pathsTrainedBy(r.methods[0].handle, model.module)).toEqual([...model.module.namedParameters()].map(([p]) => p));
    // embed 64×16 + dense 16×16+16 + classifier 16×2+2
    expect(model.module.countParameters()).toEqual({ total: 1330, trainable: 1330 });
    const data = await r.loadData();
    const loss = () => tf.tidy(() => model.loss!(model.encode!(data.splits!.train), false).dataSync()[0]);
    const before = loss();
    const counts: number[] = [];
    r.hooks.afterStep.tap('leaks', () => void counts.push(tf.memory().numTensors));
    await r.fit();
    expect(loss()).toBeLessThan(before * 0.9);
    expect(counts[counts.length - 1]).toBe(counts[2]);
  });

  it('linear-probe: only the classifier trains; the encoder stays as it was', async () => {
    const r = run({ 'linear-probe': {} });
    const model = await r.loadModel();
    expect([...model.module.trainableVariables().keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    // The run's handle names the head it found and trains exactly its parameters.
    const probe = r.methods.find((m) => m.id === 'linear-probe')!.handle;
    expect(probe.config).toEqual({ head: 'classifier' });
    expect(pathsTrainedBy(probe, model.module)).toEqual(['classifier.weight', 'classifier.bias']);
    expect(model.module.countParameters().trainable).toBe(34);
    const dense = Array.from(model.module.getParameter('encoder.dense.weight').variable.dataSync());
    const data = await r.loadData();
    const loss = () => tf.tidy(() => model.loss!(model.encode!(data.splits!.train), false).dataSync()[0]);
    const before = loss();
    await r.fit();
    expect(loss()).toBeLessThan(before);
    expect(Array.from(model.module.getParameter('encoder.dense.weight').variable.dataSync())).toEqual(dense);
  });

  it('linear-probe with an explicit head, and clear failures', async () => {
    const r = run({ 'linear-probe': { head: 'encoder.dense' } });
    expect([...(await r.loadModel()).module.trainableVariables().keys()]).toEqual(['encoder.dense.weight', 'encoder.dense.bias']);
    expect(r.methods.find((m) => m.id === 'linear-probe')!.handle.config).toEqual({ head: 'encoder.dense' });
    await expect(run({ 'linear-probe': { head: 'clasifier' } }).loadModel()).rejects.toThrow(/linear-probe head "clasifier" is not a module of this model\. Close names: "classifier"/);
    expect(() => findHead(new Tree({ encoder: new Linear(2, 2), proj: new Linear(2, 2) }))).toThrow(
      /linear-probe found no classification head: no module is named classifier, lm_head, score\. Set methods\["linear-probe"\]\.head .*top-level modules: encoder, proj/,
    );
    expect(findHead(new Tree({ transformer: new Tree({ score: new Linear(2, 2) }), lm_head: new Linear(2, 2) }))).toBe('lm_head');
    expect(() => run({ 'linear-probe': { head: 3 } })).toThrow(/\/methods\/linear-probe\/head/);
  });

  it('linear-probe next to a method that renames its head\'s paths: two handles, and the probe still trains its head', async () => {
    const r = run({ 'linear-probe': { head: 'encoder.dense' }, 'wrap-dense': {} });
    const model = await r.loadModel();
    expect(r.methods.map((m) => [m.id, m.from])).toEqual([
      ['linear-probe', 'config'],
      ['wrap-dense', 'config'],
    ]);
    const [probe, wrap] = r.methods.map((m) => m.handle);
    expect(model.module.getSubmodule('encoder.dense.base_layer')).toBeInstanceOf(Linear);
    // Chosen by identity at inject, the head's parameters stay the probe's under their new paths.
    expect(pathsTrainedBy(probe, model.module)).toEqual(['encoder.dense.base_layer.weight', 'encoder.dense.base_layer.bias']);
    expect(pathsTrainedBy(wrap, model.module)).toEqual([]);
    expect([...model.module.trainableVariables().keys()]).toEqual(['encoder.dense.base_layer.weight', 'encoder.dense.base_layer.bias']);
  });

  it('two runs of one config object share no state', async () => {
    const config = { model: 'tiny-text', methods: { 'linear-probe': {} }, runtime: { seed: 2 } };
    const [first, second] = await runsOfOneConfig(toolkit, config, 'linear-probe');
    expect(first.handle).not.toBe(second.handle);
    expect([first.handle.config, second.handle.config]).toEqual([{ head: 'classifier' }, { head: 'classifier' }]);
    expect(config.methods['linear-probe']).not.toHaveProperty('head', 'classifier');
    // Each handle claims its own model's head only, although the paths are the same.
    expect([claims(first, 'classifier.weight'), claims(first, 'classifier.weight', second), claims(second, 'classifier.weight')]).toEqual([true, false, true]);
    expect(pathsTrainedBy(second.handle, second.model.module)).toEqual(['classifier.weight', 'classifier.bias']);
  });

  it('zero-shot: nothing trains; fit evaluates the validation split with no step', async () => {
    const r = run({ 'zero-shot': {} });
    const model = await r.loadModel();
    expect(model.module.countParameters().trainable).toBe(0);
    expect(pathsTrainedBy(r.methods[0].handle, model.module)).toEqual([]);
    const before = Array.from(model.module.getParameter('classifier.weight').variable.dataSync());
    let steps = 0;
    r.hooks.afterStep.tap('count', () => void steps++);
    const metrics = await r.fit();
    expect(steps).toBe(0);
    expect(metrics.steps).toBe(0);
    expect(metrics.accuracy).toBeGreaterThanOrEqual(0);
    expect(metrics.accuracy).toBeLessThanOrEqual(1);
    expect(Array.from(model.module.getParameter('classifier.weight').variable.dataSync())).toEqual(before);
    expect(() => run({ 'zero-shot': { epochs: 1 } })).toThrow(/unknown key "epochs"/);
  });
});
