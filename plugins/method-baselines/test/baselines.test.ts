import { createToolkit, type Toolkit } from '@leantune/core';
import { Node as Tree, quietLog as quiet, tinyDataPlugin, tinyModelPlugin } from '@leantune/testing';
import { Linear, tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import baselines, { findHead } from '../src';

describe('@leantune/plugin-baselines', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, baselines], trainer: createTrainDriver(), log: quiet });
  });

  const run = (methods: Record<string, unknown>, epochs = 3) =>
    toolkit.createRun({ model: 'tiny-text', methods, data: { name: 'tiny-sentiment' }, train: { epochs, batchSize: 8, learningRate: 0.05 }, runtime: { seed: 2 } });

  it('registers full, linear-probe and zero-shot as baselines', () => {
    expect(toolkit.methods.list().filter((m) => m.family === 'baseline').map((m) => [m.id, m.prefix])).toEqual([
      ['full', 'full_'],
      ['linear-probe', 'probe_'],
      ['zero-shot', 'zeroshot_'],
    ]);
  });

  it('full: every parameter trains and the loss falls without leaks', async () => {
    const r = run({ full: {} });
    const model = await r.loadModel();
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
    await expect(run({ 'linear-probe': { head: 'clasifier' } }).loadModel()).rejects.toThrow(/linear-probe head "clasifier" is not a module of this model\. Close names: "classifier"/);
    expect(() => findHead(new Tree({ encoder: new Linear(2, 2), proj: new Linear(2, 2) }))).toThrow(
      /linear-probe found no classification head: no module is named classifier, lm_head, score\. Set methods\["linear-probe"\]\.head .*top-level modules: encoder, proj/,
    );
    expect(findHead(new Tree({ transformer: new Tree({ score: new Linear(2, 2) }), lm_head: new Linear(2, 2) }))).toBe('lm_head');
    expect(() => run({ 'linear-probe': { head: 3 } })).toThrow(/\/methods\/linear-probe\/head/);
  });

  it('zero-shot: nothing trains; fit evaluates the validation split with no step', async () => {
    const r = run({ 'zero-shot': {} });
    const model = await r.loadModel();
    expect(model.module.countParameters().trainable).toBe(0);
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
