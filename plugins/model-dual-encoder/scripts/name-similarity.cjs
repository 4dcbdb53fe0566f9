// Cosines between USE-lite's sentence embeddings of the class prompts: each Fashion-MNIST class
// the dual encoder was not aligned on against the five it was (plugins/model-dual-encoder/README.md,
// "What this shows"). Usage: node plugins/model-dual-encoder/scripts/name-similarity.cjs ["template with {}"]
const { initBackend, tf } = require('@leantune/tensor');
const { loadPretrainedUseLite, padBatch } = require('@leantune/plugin-use-lite');

const SEEN = ['T-shirt/top', 'Trouser', 'Pullover', 'Sneaker', 'Bag'];
const UNSEEN = ['Dress', 'Coat', 'Sandal', 'Shirt', 'Ankle boot'];

(async () => {
  await initBackend({});
  const template = process.argv[2] ?? 'a photo of a {}.';
  const { encoder, tokenizer } = loadPretrainedUseLite();
  const embed = (names) => {
    const { ids, attentionMask } = padBatch(names.map((n) => tokenizer.encode(template.split('{}').join(n))));
    return encoder.forward(ids, attentionMask).embedding; // L2-normalised: the dot product is the cosine
  };
  const cos = tf.matMul(embed(UNSEEN), embed(SEEN), false, true).arraySync();
  console.log(`template ${JSON.stringify(template)}; cosine of each unseen class's prompt to each seen class's`);
  console.log(['unseen \\ seen', ...SEEN].join(' | '));
  UNSEEN.forEach((name, i) => console.log([name, ...cos[i].map((v) => v.toFixed(2))].join(' | ')));
})();
