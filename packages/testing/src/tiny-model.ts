import { Embedding, Linear, Module, softmaxCrossEntropyWithLabels, tf } from '@leantune/tensor';
import { definePlugin, type Batch, type DataRecord, type LoadedModel } from '@leantune/core';

const SEQ_LEN = 24;

/** Embedding → mean pool → tanh(dense) → classifier: small enough for unit tests. */
export class TinyTextClassifier extends Module {
  readonly embed: Embedding;
  readonly encoder: Module;
  readonly classifier: Linear;

  constructor(readonly vocab: number, readonly dim: number, numLabels: number) {
    super();
    this.embed = this.addModule('embed', new Embedding(vocab, dim));
    this.encoder = this.addModule('encoder', new TinyEncoder(dim));
    this.classifier = this.addModule('classifier', new Linear(dim, numLabels));
  }

  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const mask = tf.expandDims(tf.cast(tf.greater(ids, 0), 'float32'), -1);
      const emb = tf.mul(this.child<Module>('embed')!.forward(ids) as tf.Tensor, mask);
      const pooled = tf.div(tf.sum(emb, 1), tf.maximum(tf.sum(mask, 1), 1));
      const hidden = this.child<Module>('encoder')!.forward(pooled) as tf.Tensor;
      return this.child<Module>('classifier')!.forward(hidden) as tf.Tensor;
    });
  }
}

class TinyEncoder extends Module {
  constructor(dim: number) {
    super();
    this.addModule('dense', new Linear(dim, dim));
  }
  forward(x: tf.Tensor): tf.Tensor {
    // Looked up each call, so an injected replacement of `dense` takes effect.
    return tf.tanh(this.child<Module>('dense')!.forward(x) as tf.Tensor);
  }
}

/** Character ids (0 = padding), so the fixture needs no tokenizer files. */
export function encodeChars(text: string, vocab: number): number[] {
  const ids = new Array<number>(SEQ_LEN).fill(0);
  for (let i = 0; i < Math.min(text.length, SEQ_LEN); i++) ids[i] = 1 + (text.charCodeAt(i) % (vocab - 1));
  return ids;
}

export function tinyLoadedModel(labels: string[], options: { vocab?: number; dim?: number } = {}): LoadedModel {
  const vocab = options.vocab ?? 64;
  const module = new TinyTextClassifier(vocab, options.dim ?? 16, labels.length);
  const labelIndex = (r: DataRecord) => {
    const i = labels.indexOf(String(r.label));
    if (i < 0) throw new Error(`Record ${r.id} has label "${r.label}", not one of ${labels.join(', ')}`);
    return i;
  };
  return {
    name: 'tiny-text',
    arch: 'tiny',
    // Where methods without a table for 'tiny' adapt it by default: its one hidden Linear.
    defaultTargets: ['dense'],
    module,
    labels,
    // Stands in for a pretrained encoder with a new head: only the classifier is fresh.
    freshParameters: ['classifier.weight', 'classifier.bias'],
    taskType: 'SEQ_CLS',
    encode(records): Batch {
      const ids = tf.tensor2d(records.map((r) => encodeChars(r.text ?? '', vocab)), [records.length, SEQ_LEN], 'int32');
      const targets = records.every((r) => r.label !== undefined) ? tf.tensor1d(records.map(labelIndex), 'int32') : undefined;
      return { inputs: ids, targets, size: records.length };
    },
    loss(batch, training) {
      module.train(training);
      return tf.tidy(() => {
        return softmaxCrossEntropyWithLabels(module.forward(batch.inputs as tf.Tensor), batch.targets!);
      });
    },
    predict(batch) {
      module.eval();
      return tf.tidy(() => tf.softmax(module.forward(batch.inputs as tf.Tensor)));
    },
  };
}

/** A model-loader plugin for "tiny-text", for tests of the run path. */
export const tinyModelPlugin = definePlugin<{ dim?: number }>({
  meta: { name: '@leantune/testing-tiny-model', version: '0.1.0', core: '^0.1.0' },
  optionsSchema: { type: 'object', properties: { dim: { type: 'integer', minimum: 1, maximum: 4096, default: 16 } }, additionalProperties: false },
  apply(ctx) {
    ctx.models.register({
      name: 'tiny-text',
      models: ['tiny-text'],
      test: (spec) => spec.name === 'tiny-text',
      load: async (spec) => tinyLoadedModel((spec.labels as string[]) ?? ['neg', 'pos'], { dim: ctx.options.dim }),
    });
  },
});
