import type { Batch, DataRecord, Dataset, RunContext } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { evaluateClassifier, fit } from '@leantune/train';
import { encodeMatrix, featuresHeadLoader, featuresHeadModel, featuresStage, matrix, trainAutoencoder } from '@leantune/plugin-data-unsupervised';

const ctx = (labels?: string[]): RunContext => ({ runName: 't', config: {} as RunContext['config'], tf, log: { info: () => {}, warn: () => {} }, seed: 3, configDir: '/', datasetLabels: async () => labels, loadDatasetSpec: async () => { throw new Error('no datasets in this test'); }, state: new Map() });

/** 2-D points on a line y = x (plus a little y = −x), as 2×1×1 "images". */
function lineRecords(): DataRecord[] {
  const pts: Array<[number, number]> = [[2, 2], [-2, -2], [1, 1], [-1, -1], [0.5, -0.5], [-0.5, 0.5]];
  return pts.map(([a, b], i) => ({ id: `p${i}`, label: a > 0 ? 'pos' : 'neg', image: { data: Float32Array.from([a, b]), shape: [1, 2, 1] }, meta: { source: 'unit', row: i } }));
}

describe('autoencoder', () => {
  it('reconstruction loss falls, training is seeded, and encoding leaks no tensors', async () => {
    // 64 points in 8-D that lie on a 2-D plane, scaled into [0, 1].
    const data = new Float32Array(64 * 8);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 8; j++) data[i * 8 + j] = 0.5 + 0.2 * Math.sin(i * 0.37) * Math.cos(j) + 0.2 * Math.cos(i * 0.11) * Math.sin(j + 1);
    const x = matrix(data, 64, 8);
    const a = await trainAutoencoder(x, { latent: 2, hidden: 16, epochs: 30, batchSize: 16, lr: 0.01, seed: 4 });
    expect(a.model.output).toBe('sigmoid');
    expect(a.history).toHaveLength(30);
    expect(a.history[29]).toBeLessThan(a.history[0] / 5);
    const b = await trainAutoencoder(x, { latent: 2, hidden: 16, epochs: 30, batchSize: 16, lr: 0.01, seed: 4 });
    expect(b.history).toEqual(a.history);
    const before = tf.memory().numTensors;
    const z = encodeMatrix(a.model, x, 10);
    expect(tf.memory().numTensors).toBe(before);
    expect([z.rows, z.cols]).toEqual([64, 2]);
    expect(Array.from(z.data)).toEqual(Array.from(encodeMatrix(b.model, x).data));
    await expect(trainAutoencoder(x, { latent: 0 })).rejects.toThrow('autoencoder: latent must be a positive integer (got 0)');
  });
});

describe('features stage', () => {
  it('PCA fitted on the train split adds features to every record without touching the input', async () => {
    const records = lineRecords();
    const ds: Dataset = { name: 'line', records, splits: { train: records.slice(0, 4), validation: records.slice(4) }, reports: [] };
    const out = await featuresStage.run(ds, { method: 'pca', k: 1 }, ctx());
    expect(records.every((r) => !('features' in r))).toBe(true);
    // Train points lie on y = x: the component is (1,1)/√2 and (a, b) ↦ (a + b)/√2.
    const f = (r: DataRecord) => Array.from((r as DataRecord & { features: Float32Array }).features);
    expect(out.records.map(f)).toEqual([[2.828427], [-2.828427], [1.414214], [-1.414214], [0], [0]].map((v) => [expect.closeTo(v[0], 5)]));
    expect(out.splits!.validation.map((r) => r.id)).toEqual(['p4', 'p5']);
    expect(out.splits!.validation[0]).toBe(out.records[4]);
    expect(out.reports[0]).toMatchObject({ stage: 'features', in: 6, out: 6, changed: 6, dropped: 0, details: { method: 'pca', k: 1, fittedOn: 4, explainedVarianceRatio: expect.closeTo(1, 6) } });
  });

  it('standardize z-scores each feature with the fit set\'s statistics', async () => {
    const records = lineRecords();
    const out = await featuresStage.run({ name: 'line', records, reports: [] }, { method: 'pca', k: 1, fitOn: 'all', standardize: true }, ctx());
    const v = out.records.map((r) => (r as DataRecord & { features: Float32Array }).features[0]);
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
    expect(mean).toBeCloseTo(0, 6);
    expect(sd).toBeCloseTo(1, 5);
  });

  it('unlabelled records help fit, then are dropped with a counted reason when asked', async () => {
    const records = lineRecords();
    delete records[0].label;
    const out = await featuresStage.run({ name: 'line', records, reports: [] }, { method: 'pca', k: 1, fitOn: 'all', dropUnlabelled: true }, ctx());
    expect(out.records).toHaveLength(5);
    expect(out.reports[0]).toMatchObject({ in: 6, out: 5, dropped: 1, dropReasons: { unlabelled: 1 }, details: { fittedOn: 6 } });
  });
});

describe('features-head', () => {
  it('trains on features to separate two classes, via fit and evaluateClassifier', async () => {
    const records = lineRecords().map((r) => ({ ...r, features: (r.image as { data: Float32Array }).data }) as DataRecord);
    const model = featuresHeadModel(2, ['neg', 'pos'], { seed: 1 });
    await fit<Batch>({ model: model.module, loss: (b, t) => model.loss!(b, t), trainSet: { length: 6, getBatch: (idx) => model.encode!(idx.map((i) => records[i])) }, epochs: 40, batchSize: 6, optimizer: { name: 'adamw', lr: 0.1, weightDecay: 0 } });
    expect(evaluateClassifier(model, records, 6).accuracy).toBe(1);
    expect(() => model.encode!([{ ...records[0], label: 'maybe' }])).toThrow('features-head: record p0 has label "maybe", not one of neg, pos');
    expect(() => featuresHeadModel(3, ['neg', 'pos']).encode!(records)).toThrow('record p0 has 2 features values, the head takes 3; set inputDim to match');
  });

  it('the loader takes labels from the dataset and checks its options', async () => {
    const m = await featuresHeadLoader.load({ name: 'features-head', inputDim: 4, hidden: [3] }, ctx(['a', 'b', 'c']));
    expect(m.labels).toEqual(['a', 'b', 'c']);
    expect(m.module.countParameters().total).toBe(4 * 3 + 3 + 3 * 3 + 3);
    await expect(featuresHeadLoader.load({ name: 'features-head', inputDim: 4 }, ctx())).rejects.toThrow('needs the dataset\'s labels');
    await expect(featuresHeadLoader.load({ name: 'features-head', inputDim: 4, hidden: [0] }, ctx(['a', 'b']))).rejects.toThrow('"hidden" must be a list of positive integers (got [0])');
  });
});
