// Issue 21, the 6,000-image row: MobileNetV2 (real nsfwjs weights) on Fashion-MNIST with 600
// training images per class. Same model, methods, head, batch size and learning rate as
// fashion-mobilenet.json. Protocol: `data.limit` 650 per class with `data.seed` 0 takes the same
// 6,500 images of the training IDX file for every run; `stages.split` (seed 0) sends 1/13 of them
// to validation: 600 training and 50 validation images per class (6,000 and 500), the same for
// every arm and run seed. One epoch (750 AdamW steps at batch 8), one evaluation at the end.
// Full fine-tuning (lr 1e-4, as at 100 shots) and BatchNorm tuning with re-estimated statistics
// joined the experiment later through `compare --resume`, which runs only added arms, on the same
// seeds: full's step had been about 6× LoRA's (the stem's filter gradient in tfjs's cpu loop)
// until the native backend took every convolution gradient (d5424c0).
//   npx leantune compare -c examples/fashion-mobilenet-6000.cjs --seeds 3
//   (the committed experiment: 6 arms, then `--resume <experiment>` once `full` and BN
//   re-estimation were added)
const base = require('./fashion-mobilenet.json');

const reestimate = base.compare.methods.find((m) => typeof m === 'object' && m.label === 'bn-tuning-reestimate');

module.exports = {
  ...base,
  name: 'fashion-mobilenet-6000',
  description: 'MobileNetV2 (real nsfwjs weights) on Fashion-MNIST with 6,000 training images: the methods and settings of fashion-mobilenet.json with limit 650 per class and 1/13 to validation (600 training and 50 validation images per class, the same for every arm and seed), one epoch at batch 8 with one evaluation at the end. Full fine-tuning at learning rate 1e-4 and BatchNorm tuning with re-estimated statistics are arms too.',
  data: { ...base.data, limit: 650, stages: { ...base.data.stages, split: { validation: 0.0769230769, seed: 0 } } },
  train: { ...base.train, epochs: 1, evalStrategy: 'end' },
  compare: { methods: ['lora', 'adapter', 'ia3', 'bitfit', 'ln-tuning', 'linear-probe', { id: 'full', train: { learningRate: 0.0001 } }, reestimate] },
};
