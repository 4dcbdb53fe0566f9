'use strict';
// A model loader: answers for { "model": "toy-bow" } with a small bag-of-words classifier.
const { Linear, Module, softmaxCrossEntropyWithLabels, tf } = require('@leantune/tensor');

const FEATURES = 32;

class BagOfWords extends Module {
  constructor(labels) {
    super();
    this.addModule('hidden', new Linear(FEATURES, 16));
    this.addModule('classifier', new Linear(16, labels));
  }
  forward(x) {
    return tf.tidy(() => this.child('classifier').forward(tf.relu(this.child('hidden').forward(x))));
  }
}

/** Hashed word counts: each word adds 1 to one of FEATURES slots. */
function features(text) {
  const row = new Array(FEATURES).fill(0);
  for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
    let h = 0;
    for (const c of word) h = (h * 31 + c.charCodeAt(0)) % FEATURES;
    row[h] += 1;
  }
  return row;
}

module.exports = {
  meta: { name: 'leantune-plugin-toy-model', version: '1.0.0', core: '^0.1.0' },
  apply(ctx) {
    ctx.models.register({
      name: 'toy-bow',
      models: ['toy-bow'], // listed by `leantune plugins`, used for "did you mean"
      test: (spec) => spec.name === 'toy-bow',
      async load(spec, run) {
        const labels = (await run.datasetLabels()) ?? ['neg', 'pos'];
        const module = new BagOfWords(labels.length);
        return {
          name: 'toy-bow',
          arch: 'toy', // selects the methods' defaultTargets
          module,
          labels,
          freshParameters: ['classifier.weight', 'classifier.bias'],
          encode: (records) => ({
            inputs: tf.tensor2d(records.map((r) => features(r.text ?? ''))),
            targets: tf.tensor1d(records.map((r) => labels.indexOf(String(r.label))), 'int32'),
            size: records.length,
          }),
          loss(batch, training) {
            module.train(training);
            return tf.tidy(() => softmaxCrossEntropyWithLabels(module.forward(batch.inputs), batch.targets));
          },
          predict(batch) {
            module.eval();
            return tf.tidy(() => tf.softmax(module.forward(batch.inputs)));
          },
        };
      },
    });
  },
};
