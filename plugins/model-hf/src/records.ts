import type { Batch, DataRecord } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import type { ArchBuild } from './loader-types';
import { softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';

/** Label indices for records, or undefined when any record has no label (prediction only). */
export function labelTargets(records: readonly DataRecord[], labels: readonly string[]): tf.Tensor1D | undefined {
  if (!records.every((r) => r.label !== undefined)) return undefined;
  return tf.tensor1d(
    records.map((r) => {
      const i = typeof r.label === 'number' ? r.label : labels.indexOf(String(r.label));
      if (!Number.isInteger(i) || i < 0 || i >= labels.length) {
        throw new Error(`Record ${r.id} has label ${JSON.stringify(r.label)}, not one of ${labels.join(', ')} (or an index below ${labels.length})`);
      }
      return i;
    }),
    'int32',
  );
}

export function textsOf(records: readonly DataRecord[]): string[] {
  return records.map((r) => {
    if (typeof r.text !== 'string') throw new Error(`Record ${r.id} has no "text"; this model reads text`);
    return r.text;
  });
}

/** Mean softmax cross-entropy of logits [b, n] against int32 targets [b]. */
export function crossEntropy(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  return softmaxCrossEntropyWithLabels(logits, targets);
}

/** loss (cross-entropy on the labels) and predict (softmax) of a classifier whose `forward` gives logits. */
export function classifierHead(module: Module, forward: (batch: Batch) => tf.Tensor): Pick<ArchBuild, 'loss' | 'predict'> {
  return {
    loss(batch, training) {
      module.train(training);
      if (!batch.targets) throw new Error('loss() needs labelled records; every record must have a label');
      return tf.tidy(() => crossEntropy(forward(batch), batch.targets!));
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(forward(batch)));
    },
  };
}
