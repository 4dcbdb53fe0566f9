// Issue 21, the 100-shot row: MobileNetV2 (real nsfwjs weights) on Fashion-MNIST with 100
// training images per class. Same model, methods, head, batch size and learning rates as
// fashion-mobilenet.json (10-shot); `full` trains at 1e-4 as its own arm (at 1e-3 it falls to
// chance). Protocol: `data.limit` 150 per class with `data.seed` 0 takes the same 1,500 images of
// the training IDX file for every run; `stages.split` (seed 0) sends 1/3 of them to validation:
// 100 training and 50 validation images per class (1,000 and 500), the same for every arm and
// run seed. One epoch (125 AdamW steps at batch 8) and one evaluation at the end
// (`train.evalStrategy: "end"`): on this 2-core machine the 8-arm, 3-seed grid is then about an
// hour (plugins/model-mobilenet-v2/README.md, "Fashion-MNIST, 100-shot").
//   npx leantune compare -c examples/fashion-mobilenet-100shot.cjs --seeds 3
const base = require('./fashion-mobilenet.json');

module.exports = {
  ...base,
  name: 'fashion-mobilenet-100shot',
  description: 'MobileNetV2 (real nsfwjs weights) on Fashion-MNIST, 100-shot: the methods and settings of fashion-mobilenet.json with 100 training images per class (limit 150 per class, 1/3 to validation: 1,000 training and 500 validation images, the same for every arm and seed), one epoch at batch 8 with one evaluation at the end, and full fine-tuning as an arm at learning rate 1e-4.',
  data: { ...base.data, limit: 150, stages: { ...base.data.stages, split: { validation: 0.3333333333, seed: 0 } } },
  train: { ...base.train, epochs: 1, evalStrategy: 'end' },
  compare: { methods: [...base.compare.methods, { id: 'full', train: { learningRate: 0.0001 } }] },
};
