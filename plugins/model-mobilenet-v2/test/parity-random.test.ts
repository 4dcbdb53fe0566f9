import { tf } from '@leantune/tensor';
import { createMobileNetV2 } from '../src';
import { loadReferenceModel, maxAbsDiff, referenceOutputs } from './reference';

// Full 224×224 passes on the cpu backend: two random images here, structured ones in
// parity-structured.test.ts, so each file stays short.
test('matches tfjs-layers on random 224×224 inputs: softmax, argmax, the block_6 and out_relu feature maps', async () => {
  const reference = await loadReferenceModel();
  const { module } = createMobileNetV2({ name: 'mobilenet-v2' });
  module.eval().freeze(); // frozen, as in a PEFT run: the convs use their cached tfjs-layout filters
  const stage = module.plan.stages.findIndex((s) => s.outputLayer === 'block_6_project_BN');
  expect(stage).toBe(7); // Keras block_6 is torchvision's features.7
  const last = module.plan.stages.length - 1;
  expect(module.plan.stages[last].outputLayer).toBe('out_relu');
  const x = tf.randomUniform([2, 224, 224, 3], 0, 1, 'float32', 11) as tf.Tensor4D;

  const ref = referenceOutputs(reference, x, ['block_6_project_BN', 'out_relu']);
  const ours = module.forwardWithFeatures(x, [stage, last]);
  const probs = tf.softmax(ours.logits);

  expect(ours.features[0].shape).toEqual([2, 14, 14, 64]);
  expect(ref.maps[0].shape).toEqual([2, 14, 14, 64]);
  expect(ours.features[1].shape).toEqual([2, 7, 7, 1280]);
  const probDiff = maxAbsDiff(probs, ref.probs);
  const mapDiff = maxAbsDiff(ours.features[0], ref.maps[0]);
  const lastDiff = maxAbsDiff(ours.features[1], ref.maps[1]);
  console.log(`random parity: softmax max |diff| ${probDiff.toExponential(2)}, block_6 map ${mapDiff.toExponential(2)}, out_relu map ${lastDiff.toExponential(2)}`);
  expect(probDiff).toBeLessThanOrEqual(1e-6); // the README's figure (measured 3.0e-7 random, 1.2e-7 structured, cpu backend)
  expect(mapDiff).toBeLessThanOrEqual(2e-4);
  expect(lastDiff).toBeLessThanOrEqual(2e-4);
  expect(tf.argMax(probs, 1).arraySync()).toEqual(tf.argMax(ref.probs, 1).arraySync());
  // The reference is a real classifier output, not something trivially equal.
  expect(tf.sum(ref.probs, 1).arraySync()).toEqual([expect.closeTo(1, 5), expect.closeTo(1, 5)]);
});
