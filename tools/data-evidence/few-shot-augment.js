// Few-shot accuracy with and without the augment stage's policy, applied on the fly per epoch
// as the train driver does (a fresh rng per (seed, epoch, sample index)); validation never
// augmented. MNIST: 10 images per digit, softmax regression on pixels. SpamAssassin: 10 emails
// per class, logistic regression on TF-IDF. 5 seeds each (different training picks).
// Run: node tools/data-evidence/run.cjs tools/data-evidence/few-shot-augment.js
const { loadData, table } = require('./common');
const { createRng, deriveSeed, shuffle, primaryLabel } = require('@leantune/data');
const { createAugmenter } = require('@leantune/plugin-data-augment');
const { tokenize } = require('@leantune/plugin-data-label');

/** Seeded: `perClass` records of each label for training, the rest (up to `testPerClass`) for test. */
function fewShot(records, labels, perClass, testPerClass, seed) {
  const train = [];
  const test = [];
  for (const l of labels) {
    const mine = shuffle(records.filter((r) => primaryLabel(r) === l), deriveSeed(seed, l));
    train.push(...mine.slice(0, perClass));
    test.push(...mine.slice(perClass, perClass + testPerClass));
  }
  return { train, test };
}

/** Multinomial logistic regression by full-batch gradient descent; `features(r)` gives a dense Float64Array. */
function trainSoftmax(train, labels, features, dim, { epochs, lr, augment, seed }) {
  const C = labels.length;
  const W = new Float64Array(C * dim);
  const b = new Float64Array(C);
  for (let epoch = 0; epoch < epochs; epoch++) {
    const gW = new Float64Array(C * dim);
    const gb = new Float64Array(C);
    train.forEach((r, i) => {
      const rec = augment ? augment(r, createRng(deriveSeed(seed, `${epoch}:${i}`))) : r;
      const x = features(rec);
      const z = labels.map((_, c) => {
        let s = b[c];
        for (let j = 0; j < dim; j++) s += W[c * dim + j] * x[j];
        return s;
      });
      const m = Math.max(...z);
      const e = z.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, v) => a + v, 0);
      const y = labels.indexOf(primaryLabel(r));
      for (let c = 0; c < C; c++) {
        const g = e[c] / sum - (c === y ? 1 : 0);
        gb[c] += g;
        if (g !== 0) for (let j = 0; j < dim; j++) if (x[j] !== 0) gW[c * dim + j] += g * x[j];
      }
    });
    for (let k = 0; k < W.length; k++) W[k] -= (lr * gW[k]) / train.length + lr * 1e-4 * W[k];
    for (let c = 0; c < C; c++) b[c] -= (lr * gb[c]) / train.length;
  }
  return (r) => {
    const x = features(r);
    let best = 0;
    let bestZ = -Infinity;
    for (let c = 0; c < C; c++) {
      let s = b[c];
      for (let j = 0; j < dim; j++) s += W[c * dim + j] * x[j];
      if (s > bestZ) [best, bestZ] = [c, s];
    }
    return labels[best];
  };
}

const accuracy = (predict, test) => test.filter((r) => predict(r) === primaryLabel(r)).length / test.length;
const meanSd = (xs) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
  return `${(m * 100).toFixed(1)} ± ${(sd * 100).toFixed(1)}`;
};

/** TF-IDF with the vocabulary and idf fitted on a pool of texts, usable on new (augmented) texts. */
function tfidfModel(texts) {
  const df = new Map();
  for (const t of texts) for (const w of new Set(tokenize(t))) df.set(w, (df.get(w) ?? 0) + 1);
  const vocab = [...df.keys()];
  const index = new Map(vocab.map((w, i) => [w, i]));
  const idf = vocab.map((w) => Math.log((1 + texts.length) / (1 + df.get(w))) + 1);
  const features = (r) => {
    const x = new Float64Array(vocab.length);
    for (const w of tokenize(r.text)) if (index.has(w)) x[index.get(w)] += 1;
    let norm = 0;
    for (let j = 0; j < x.length; j++) if (x[j] > 0) norm += (x[j] = (1 + Math.log(x[j])) * idf[j]) ** 2;
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < x.length; j++) x[j] /= norm;
    return x;
  };
  return { features, dim: vocab.length };
}

async function main() {
  const rows = [];
  const seeds = [1, 2, 3, 4, 5];
  const mnist = await loadData({ name: 'mnist', limit: 210 });
  const imagePolicy = { image: { rotation: 12, translation: 2 } };
  const pixels = (r) => Float64Array.from(r.image.data);
  for (const [name, options] of [['none', null], ['rotation ±12°, shift ±2 px', imagePolicy]]) {
    const accs = seeds.map((seed) => {
      const { train, test } = fewShot(mnist.records, mnist.labels, 10, 200, seed);
      const predict = trainSoftmax(train, mnist.labels, pixels, 784, { epochs: 150, lr: 0.5, augment: options && createAugmenter(options), seed });
      return accuracy(predict, test);
    });
    rows.push(['MNIST, 10 per digit, softmax regression on pixels', name, '100 / 2000', meanSd(accs)]);
  }
  const spam = await loadData({ name: 'spam-assassin', limit: 400 });
  const textPolicy = { text: { synonym: 0.15, deletion: 0.1, swap: 0.05, paraphrase: 0.3 } };
  for (const [name, options] of [['none', null], ['synonym 0.15, deletion 0.1, swap 0.05, paraphrase 0.3', textPolicy]]) {
    const accs = seeds.map((seed) => {
      const { train, test } = fewShot(spam.records, spam.labels, 10, 300, seed);
      const { features, dim } = tfidfModel([...train, ...test].map((r) => r.text));
      const predict = trainSoftmax(train, spam.labels, features, dim, { epochs: 60, lr: 2, augment: options && createAugmenter(options), seed });
      return accuracy(predict, test);
    });
    rows.push(['SpamAssassin, 10 per class, logistic regression on TF-IDF', name, '20 / 600', meanSd(accs)]);
  }
  console.log(table(['task', 'augmentation', 'train / test', 'test accuracy % (mean ± sd, 5 seeds)'], rows));
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
