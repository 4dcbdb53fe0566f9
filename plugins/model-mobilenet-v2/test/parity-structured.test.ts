import { tf } from '@leantune/tensor';
import { loadMobileNetV2 } from '../src';
import { loadReferenceModel, maxAbsDiff, referenceOutputs } from './reference';

/** Uint8 HWC images: an RGB ramp and a coloured checkerboard, as a loader user gives them. */
function structuredImages(): Uint8Array[] {
  const ramp = new Uint8Array(224 * 224 * 3);
  const board = new Uint8Array(224 * 224 * 3);
  for (let y = 0; y < 224; y++) {
    for (let x = 0; x < 224; x++) {
      const i = (y * 224 + x) * 3;
      ramp.set([Math.round((255 * y) / 223), Math.round((255 * x) / 223), Math.round((255 * x * y) / (223 * 223))], i);
      const on = (Math.floor(x / 28) + Math.floor(y / 28)) % 2 === 0;
      board.set(on ? [230, 40, 40] : [20, 20, 200], i);
    }
  }
  return [ramp, board];
}

test('matches tfjs-layers on structured uint8 images through encode() and predict()', async () => {
  const reference = await loadReferenceModel();
  const model = await loadMobileNetV2({ name: 'mobilenet-v2' });
  model.module.freeze(); // as a run does before injecting methods
  const images = structuredImages();
  const batch = model.encode!(images.map((image, row) => ({ id: `s${row}`, image, meta: { source: 'test', row } })));
  // nsfwjs's preprocessing, computed here independently: pixels / 255.
  const x = tf.div(tf.tensor4d(Float32Array.from([...images[0], ...images[1]]), [2, 224, 224, 3]), 255) as tf.Tensor4D;
  expect(maxAbsDiff(batch.inputs as tf.Tensor, x)).toBe(0);

  const ref = referenceOutputs(reference, x, []);
  const probs = model.predict!(batch);

  const probDiff = maxAbsDiff(probs, ref.probs);
  console.log(`structured parity: softmax max |diff| ${probDiff.toExponential(2)}; ours ${JSON.stringify(probs.arraySync())}`);
  expect(probs.shape).toEqual([2, 5]);
  expect(probDiff).toBeLessThanOrEqual(1e-6); // the README's figure (measured 3.0e-7 random, 1.2e-7 structured, cpu backend)
  expect(tf.argMax(probs, 1).arraySync()).toEqual(tf.argMax(ref.probs, 1).arraySync());
});
