import { Module, tf } from '@leantune/tensor';
import { IndexedDataset, Rng } from '@leantune/train';

/** A linear softmax classifier: logits = x·W + b, with fixed deterministic initial weights. */
export class SoftmaxClassifier extends Module {
  constructor(readonly inputs: number, readonly classes: number, seed = 1) {
    super();
    const rng = new Rng(seed);
    const w = Array.from({ length: inputs * classes }, () => (rng.next() - 0.5) * 0.2);
    this.addParameter('weight', tf.tensor2d(w, [inputs, classes]));
    this.addParameter('bias', tf.zeros([classes]));
  }

  forward(x: tf.Tensor2D): tf.Tensor2D {
    return tf.add(tf.matMul(x, this.param('weight')), this.param('bias'));
  }
}

export interface ToyBatch {
  x: tf.Tensor2D;
  y: tf.Tensor2D;
  labels: number[];
}

/** Points in R^inputs labelled by which of the first `classes` coordinates is largest. */
export function toyDataset(size: number, inputs: number, classes: number, seed = 7): IndexedDataset<ToyBatch> & { features: number[][]; labels: number[] } {
  const rng = new Rng(seed);
  const features = Array.from({ length: size }, () => Array.from({ length: inputs }, () => rng.next() * 2 - 1));
  const labels = features.map((f) => {
    const head = f.slice(0, classes);
    return head.indexOf(Math.max(...head));
  });
  return {
    length: size,
    features,
    labels,
    getBatch(indices: number[]): ToyBatch {
      const batchLabels = indices.map((i) => labels[i]);
      return {
        x: tf.tensor2d(indices.map((i) => features[i])),
        y: tf.cast(tf.oneHot(tf.tensor1d(batchLabels, 'int32'), classes), 'float32') as tf.Tensor2D,
        labels: batchLabels,
      };
    },
  };
}

export function crossEntropy(model: SoftmaxClassifier, batch: ToyBatch): tf.Scalar {
  return tf.losses.softmaxCrossEntropy(batch.y, model.forward(batch.x)) as tf.Scalar;
}
