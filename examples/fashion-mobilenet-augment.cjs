// Issue 21, "augmentation in the loop": the 10-shot Fashion-MNIST comparison of
// fashion-mobilenet.json (same model, methods, data, split, seeds, schedule) with the data-augment
// plugin's image policy on the training images: rotation ±10°, translation ±2 px (on the 28 px
// image, before the model resizes it to 96) and horizontal flips (clothes, unlike digits, are
// mirror-symmetric). The policy is drawn per epoch and per image from the run seed; validation
// images are never augmented. Compare its table with fashion-mobilenet.json's:
//   npx leantune compare -c examples/fashion-mobilenet-augment.cjs --seeds 3
const base = require('./fashion-mobilenet.json');

module.exports = {
  ...base,
  name: 'fashion-mobilenet-augment',
  description: `${base.description} This variant adds the data-augment image policy (rotation 10, translation 2, flip) to the training images.`,
  plugins: [...base.plugins, 'data-augment'],
  data: { ...base.data, stages: { ...base.data.stages, augment: { image: { rotation: 10, translation: 2, flip: true } } } },
};
