import { join } from 'node:path';
import { analyze, captureEnvironment, chartData, chartSpecs, ExperimentStore } from '../src';
import { writeSyntheticStore } from './fixtures/synthetic';
import { tempDir } from './helpers';

describe('the sweep chart', () => {
  it('plots each swept option of each arm against its score: method options from the arm, train options from its resolved config', () => {
    const dir = tempDir('sweep');
    const store = ExperimentStore.open(join(dir, 'experiments.sqlite'));
    const sweep = { mode: 'grid', 'methods.lora.r': [4, 8], 'train.learningRate': { log: [0.01, 0.1], n: 2 } };
    const arms = [
      { label: 'lora-r4-learningRate0.01', method: 'lora', r: 4, lr: 0.01, acc: 0.7 },
      { label: 'lora-r8-learningRate0.1', method: 'lora', r: 8, lr: 0.1, acc: 0.9 },
      { label: 'ia3-learningRate0.1', method: 'ia3', r: undefined, lr: 0.1, acc: 0.6 },
    ];
    const exp = store.createExperiment({
      name: 'swept',
      config: { name: 'swept', sweep },
      seeds: [1],
      primaryMetric: 'accuracy',
      environment: captureEnvironment({}),
      arms: arms.map((a) => ({ label: a.label, method: a.method, config: a.r ? { r: a.r } : {}, resolvedConfig: { train: { learningRate: a.lr, epochs: 1 } } })),
    });
    for (const run of store.runs(exp.id)) {
      const arm = arms.find((a) => a.label === run.armLabel)!;
      store.startRun(run.id, null);
      store.finishRun(run.id, { status: 'completed', wallSeconds: 1, evals: [{ split: 'validation', step: 1, metrics: { accuracy: arm.acc } }] });
    }
    const data = chartData(store, analyze(store, 'swept'));
    expect(data.sweep).toEqual([
      { arm: 'lora-r4-learningRate0.01', method: 'lora', param: 'methods.lora.r', value: 4, score: 0.7, log: false },
      { arm: 'lora-r4-learningRate0.01', method: 'lora', param: 'train.learningRate', value: 0.01, score: 0.7, log: true },
      { arm: 'lora-r8-learningRate0.1', method: 'lora', param: 'methods.lora.r', value: 8, score: 0.9, log: false },
      { arm: 'lora-r8-learningRate0.1', method: 'lora', param: 'train.learningRate', value: 0.1, score: 0.9, log: true },
      { arm: 'ia3-learningRate0.1', method: 'ia3', param: 'train.learningRate', value: 0.1, score: 0.6, log: true },
    ]);
    const spec = chartSpecs(data, 'accuracy').sweep as { facet: unknown; spec: { encoding: { x: { scale: unknown } } } };
    expect(spec.facet).toEqual({ column: { field: 'param', type: 'nominal', title: null } });
    expect(spec.spec.encoding.x.scale).toEqual({ type: 'log' });
    store.close();
  });

  it('is left out of a report without a sweep', () => {
    const store = writeSyntheticStore(tempDir('nosweep'));
    expect(Object.keys(chartSpecs(chartData(store, analyze(store, 'synthetic')), 'accuracy'))).toEqual(['loss', 'share', 'pareto', 'cost']);
    store.close();
  });
});
