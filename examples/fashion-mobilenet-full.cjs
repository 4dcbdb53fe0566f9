// Full fine-tuning of MobileNetV2 on the same 10-shot Fashion-MNIST data as fashion-mobilenet.json,
// at learning rate 1e-4 instead of 1e-3. At 1e-3 AdamW moves each of the 2.2M pretrained weights by
// about 1e-3 per step; with the BatchNorms normalising by their frozen running statistics (the
// model's default, batchNorm: "frozen") nothing re-normalises the activations, the pooled features
// lose their spread across images within ~8 steps and accuracy falls to chance (0.10). See the
// model plugin's README, "Fine-tuning evidence (issue 21)".
// A compare arm may now carry its own train options ({ "id": "full", "train": { "learningRate":
// 0.0001 } }, as examples/mnist-mobilenet.json does), but that came to this work only after the 7-arm
// fashion-mobilenet experiment had started; adding the arm to fashion-mobilenet.json would stop
// that experiment from resuming. Fold this file into it once that experiment is complete.
const base = require('./fashion-mobilenet.json');

module.exports = {
  ...base,
  name: 'fashion-mobilenet-full',
  description: 'Full fine-tuning arm of fashion-mobilenet.json (same model, data, seeds, epochs, batch size) at train.learningRate 1e-4: at 1e-3 full fine-tuning collapses to chance.',
  train: { ...base.train, learningRate: 0.0001 },
  compare: { methods: ['full'] },
};
