// Full fine-tuning arm of mnist-mobilenet.json (same model, data, seeds, epochs, batch size) at
// learning rate 1e-4: at 1e-3 full fine-tuning collapses to chance (see fashion-mobilenet-full.cjs
// and the model plugin's README, "Fine-tuning evidence (issue 21)").
const base = require('./mnist-mobilenet.json');

module.exports = {
  ...base,
  name: 'mnist-mobilenet-full',
  description: 'Full fine-tuning arm of mnist-mobilenet.json at train.learningRate 1e-4: at 1e-3 full fine-tuning collapses to chance.',
  train: { ...base.train, learningRate: 0.0001 },
  compare: { methods: ['full'] },
};
