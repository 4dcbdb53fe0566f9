import type { Batch, DataRecord, LoadedModel, ModelLoader, ModelSpec, RunContext } from '@leantune/core';
import { Activation, Linear, Module, Sequential, setSeed, tf } from '@leantune/tensor';
import { recordVector, type VectorSource } from './matrix';

/** Linear softmax head (or a small MLP with `hidden` layers) over a record's vector. */
export class FeaturesHead extends Module {
  readonly net: Sequential;

  constructor(
    readonly inputDim: number,
    readonly numLabels: number,
    hidden: readonly number[] = [],
  ) {
    super();
    const layers: Module[] = [];
    let width = inputDim;
    for (const h of hidden) {
      layers.push(new Linear(width, h), new Activation('relu'));
      width = h;
    }
    layers.push(new Linear(width, numLabels));
    this.net = this.addModule('net', new Sequential(...layers));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.net.forward(x);
  }
}

export interface FeaturesHeadOptions {
  hidden?: readonly number[];
  /** Input vectors: the record's `features` (default) or its image pixels. */
  source?: VectorSource;
  seed?: number;
}

/** A LoadedModel whose encode/loss/predict work on record vectors, for fit and evaluateClassifier. */
export function featuresHeadModel(inputDim: number, labels: readonly string[], options: FeaturesHeadOptions = {}): LoadedModel {
  if (!Number.isInteger(inputDim) || inputDim < 1) throw new Error(`features-head: inputDim must be a positive integer (got ${inputDim})`);
  if (labels.length < 2) throw new Error(`features-head needs at least 2 labels (got ${labels.length}); give the dataset's labels`);
  if (options.seed !== undefined) setSeed(options.seed);
  const module = new FeaturesHead(inputDim, labels.length, options.hidden);
  const source = options.source ?? 'features';
  const index = new Map(labels.map((l, i) => [l, i]));
  const vectors = (records: readonly DataRecord[]) => {
    const data = new Float32Array(records.length * inputDim);
    records.forEach((r, i) => {
      const v = recordVector(r, source);
      if (v.length !== inputDim) throw new Error(`features-head: record ${r.id} has ${v.length} ${source} values, the head takes ${inputDim}; set inputDim to match`);
      data.set(v as ArrayLike<number>, i * inputDim);
    });
    return tf.tensor2d(data, [records.length, inputDim]);
  };
  return {
    name: 'features-head',
    arch: 'features-head',
    module,
    labels: [...labels],
    encode(records): Batch {
      const inputs = vectors(records);
      const labelled = records.every((r) => r.label !== undefined);
      const targets = labelled
        ? tf.tensor1d(
            records.map((r) => {
              const i = index.get(String(r.label));
              if (i === undefined) throw new Error(`features-head: record ${r.id} has label "${r.label}", not one of ${labels.join(', ')}`);
              return i;
            }),
            'int32',
          )
        : undefined;
      return { inputs, targets, size: records.length };
    },
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => tf.losses.softmaxCrossEntropy(tf.oneHot(batch.targets as tf.Tensor1D, labels.length), module.forward(batch.inputs as tf.Tensor)) as tf.Scalar);
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(module.forward(batch.inputs as tf.Tensor)));
    },
  };
}

/** Model loader `features-head`: `"model": { "name": "features-head", "inputDim": 50, "hidden": [] }`. */
export const featuresHeadLoader: ModelLoader = {
  name: 'features-head',
  description: 'Softmax head (linear, or an MLP with "hidden") over record.features, e.g. from the features stage',
  models: ['features-head'],
  test: (spec: ModelSpec) => spec.name === 'features-head',
  async load(spec: ModelSpec, ctx: RunContext): Promise<LoadedModel> {
    const labels = await ctx.datasetLabels();
    if (!labels) throw new Error('Model "features-head" needs the dataset\'s labels; add a "data" section to the config');
    const hidden = spec.hidden ?? [];
    if (!Array.isArray(hidden) || !hidden.every((h) => Number.isInteger(h) && h > 0)) throw new Error(`Model "features-head": "hidden" must be a list of positive integers (got ${JSON.stringify(spec.hidden)})`);
    const source = spec.source ?? 'features';
    if (source !== 'features' && source !== 'image') throw new Error(`Model "features-head": "source" must be "features" or "image" (got ${JSON.stringify(spec.source)})`);
    return featuresHeadModel(spec.inputDim as number, labels, { hidden: hidden as number[], source, seed: ctx.seed });
  },
};
