import type { Batch, DataRecord, LoadedModel, RunContext } from '@leantune/core';
import { Linear, Module, setSeed, tf } from '@leantune/tensor';

export const ctx = (configDir = '/'): RunContext => ({ runName: 't', config: {} as RunContext['config'], tf, log: { info: () => {}, warn: () => {} }, seed: 3, configDir, datasetLabels: async () => undefined, loadDatasetSpec: async () => { throw new Error('no datasets in this test'); }, state: new Map() });

/** y ≈ w·x with one weight: losses and Fisher values can be worked out by hand. */
export class Scalar extends Module {
  constructor(w: number) {
    super();
    this.addParameter('w', tf.tensor1d([w]));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.mul(x, this.param('w'));
  }
}

export function scalarModel(w: number): LoadedModel & { module: Scalar } {
  const module = new Scalar(w);
  return {
    name: 'scalar',
    arch: 'scalar',
    module,
    encode: (records): Batch => ({ inputs: tf.tensor1d(records.map((r) => r.meta.x as number)), targets: tf.tensor1d(records.map((r) => r.meta.y as number)), size: records.length }),
    loss: (batch) => tf.tidy(() => tf.mean(tf.square(tf.sub(module.forward(batch.inputs as tf.Tensor), batch.targets!))) as tf.Scalar),
  };
}

export const point = (id: string, x: number, y: number): DataRecord => ({ id, meta: { source: 'unit', row: 0, x, y } });

/** A 2-layer classifier over 2-D points (record.meta.p), labels a-d: small enough to train in a test. */
export class Mlp extends Module {
  constructor() {
    super();
    this.addModule('fc1', new Linear(2, 16));
    this.addModule('head', new Linear(16, 4));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.child<Module>('head')!.forward(tf.relu(this.child<Module>('fc1')!.forward(x) as tf.Tensor)) as tf.Tensor);
  }
}

export const LABELS = ['a', 'b', 'c', 'd'];

export function mlpModel(seed: number): LoadedModel {
  setSeed(seed);
  const module = new Mlp();
  return {
    name: 'mlp',
    arch: 'mlp',
    module,
    labels: LABELS,
    encode: (records): Batch => ({
      inputs: tf.tensor2d(records.map((r) => r.meta.p as number[])),
      targets: tf.tensor1d(records.map((r) => LABELS.indexOf(String(r.label))), 'int32'),
      size: records.length,
    }),
    loss: (batch) => tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(batch.targets as tf.Tensor1D, 4), module.forward(batch.inputs as tf.Tensor)) as tf.Scalar),
    predict: (batch) => tf.tidy(() => tf.softmax(module.forward(batch.inputs as tf.Tensor))),
  };
}

/** Four Gaussian-ish blobs (seeded); task A is labels a/b, task B is c/d. */
export function blobs(label: string, n: number, seed: number): DataRecord[] {
  const centre: Record<string, [number, number]> = { a: [-2, 0], b: [2, 0], c: [0, 2], d: [0, -2] };
  let s = seed;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647) - 0.5;
  return Array.from({ length: n }, (_, i) => ({ id: `${label}${seed}:${i}`, label, meta: { source: 'blobs', row: i, p: [centre[label][0] + rand() * 1.5, centre[label][1] + rand() * 1.5] } }));
}
