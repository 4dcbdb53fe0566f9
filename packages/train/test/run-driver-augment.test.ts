import { createToolkit, definePlugin, type DataRecord, type Dataset, type LoadedModel } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import { SoftmaxClassifier } from './helpers/classifier';

const quiet = { info: () => {}, warn: () => {} };

function records(n: number): DataRecord[] {
  return Array.from({ length: n }, (_, row) => {
    const x = [Math.sin(row), Math.cos(row * 1.3)];
    return { id: `r${row}`, label: x[0] > x[1] ? 'a' : 'b', meta: { source: 'toy', row, x } };
  });
}

/** A toy classifier whose encode() logs the feature vectors and ids it is given. */
function toyModel(seen: Array<{ id: string; x: number[] }>): LoadedModel {
  const module = new SoftmaxClassifier(2, 2, 3);
  const labels = ['a', 'b'];
  const logits = (b: { inputs: unknown }) => module.forward(b.inputs as tf.Tensor2D);
  return {
    name: 'toy',
    arch: 'toy',
    module,
    labels,
    encode: (rs) => {
      for (const r of rs) seen.push({ id: r.id, x: r.meta.x as number[] });
      return {
        inputs: tf.tensor2d(rs.map((r) => r.meta.x as number[])),
        targets: tf.tensor1d(rs.map((r) => labels.indexOf(String(r.label))), 'int32'),
        size: rs.length,
      };
    },
    loss: (b) => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(b.targets as tf.Tensor1D, 2), logits(b)) as tf.Scalar),
    predict: (b) => tf.tidy(() => tf.softmax(logits(b))),
  };
}

const toyPlugin = definePlugin({ meta: { name: 'toy', version: '0.1.0', core: '^0.1.0' }, apply: () => {} });

/** Trains 2 epochs with an augmenter that adds rng() to the first feature; returns what encode saw. */
async function trainWithAugment(seed: number) {
  const data = records(12);
  const calls: Array<{ id: string; draw: number }> = [];
  const dataset: Dataset = {
    name: 'toy',
    records: data,
    splits: { train: data.slice(0, 8), validation: data.slice(8) },
    reports: [],
    augment: (record, rng) => {
      const draw = rng();
      calls.push({ id: record.id, draw });
      const x = record.meta.x as number[];
      return { ...record, meta: { ...record.meta, x: [x[0] + draw, x[1]] } };
    },
  };
  const seen: Array<{ id: string; x: number[] }> = [];
  // The trainer registers the schema of `train`, so the toolkit fills its defaults.
  const toolkit = await createToolkit({ plugins: [toyPlugin], log: quiet, trainer: createTrainDriver() });
  const run = toolkit.createRun({ model: 'toy', trainable: ['.*'], train: { epochs: 2, batchSize: 4 }, runtime: { seed } });
  const model = toyModel(seen);
  model.module.unfreeze();
  await createTrainDriver().fit(run, model, dataset);
  return { data, calls, seen };
}

describe('createTrainDriver with dataset.augment', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('augments every training record once per epoch and never a validation record', async () => {
    const { data, calls, seen } = await trainWithAugment(5);
    const trainIds = data.slice(0, 8).map((r) => r.id);
    expect(calls).toHaveLength(16);
    expect(calls.filter((c) => !trainIds.includes(c.id))).toEqual([]);
    for (const id of trainIds) expect(calls.filter((c) => c.id === id)).toHaveLength(2);
    // Training batches got the augmented features; validation batches the originals.
    const trainSeen = seen.filter((s) => trainIds.includes(s.id));
    expect(trainSeen).toHaveLength(16);
    trainSeen.forEach((s, i) => {
      const original = data.find((r) => r.id === s.id)!.meta.x as number[];
      expect(s.x[0]).toBeCloseTo(original[0] + calls[i].draw, 6);
    });
    for (const s of seen.filter((v) => !trainIds.includes(v.id))) expect(s.x).toEqual(data.find((r) => r.id === s.id)!.meta.x);
    // The original records are untouched.
    expect(data[0].meta.x).toEqual([Math.sin(0), Math.cos(0)]);
  });

  it('draws from (seed, epoch, index): the same seed repeats, each epoch differs, another seed differs', async () => {
    const a = await trainWithAugment(5);
    const b = await trainWithAugment(5);
    const c = await trainWithAugment(6);
    const byId = (calls: typeof a.calls, epoch: number) => Object.fromEntries(calls.slice(epoch * 8, epoch * 8 + 8).map((k) => [k.id, k.draw]));
    expect(b.calls).toEqual(a.calls);
    const e0 = byId(a.calls, 0);
    const e1 = byId(a.calls, 1);
    expect(Object.keys(e0).every((id) => e0[id] !== e1[id])).toBe(true);
    expect(byId(c.calls, 0)).not.toEqual(e0);
  });
});
