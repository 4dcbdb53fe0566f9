import path from 'node:path';
import { loadSafetensors, tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '../src';
import { checkTraining, records } from './training-check';
import { recordingLogger, tempDir } from './helpers';

test.each(['vit', 'clip'] as const)('%s: gradient steps on every parameter lower the loss, and nothing leaks', checkTraining);

test('encode → predict → dispose leaves no tensors behind', async () => {
  const dir = tempDir('leak');
  writeTinyHfCheckpoint('clip', dir);
  const m = await loadHfCheckpoint(dir, { labels: ['cat', 'dog'], log: recordingLogger() });
  const before = tf.memory().numTensors;
  const batch = m.encode!(records('vit').map((r) => ({ ...r, label: 'cat' })));
  tf.dispose([m.predict!(batch), m.loss!(batch, true), (batch.inputs as Record<string, tf.Tensor>).pixel_values, batch.targets!]);
  expect(tf.memory().numTensors).toBe(before);
});

describe('a classifier checkpoint fine-tuned on another task', () => {
  // A 28 px ViT with 10 digit labels (vitSizes), as examples/write-vit-tiny.cjs writes one to pretrain.
  const dir = tempDir('vit28');
  const digits = Array.from({ length: 10 }, (_, i) => String(i));
  const clothes = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];
  writeTinyHfCheckpoint('vit', dir, { layers: 2, vitSizes: { hidden: 16, heads: 2, intermediate: 32, image: 28, patch: 7, labels: digits } });
  const head = () => Array.from(loadSafetensors(path.join(dir, 'model.safetensors')).tensors.get('classifier.weight')!.dataSync());

  it('keeps the checkpoint head for as many labels (as transformers), and starts a new one with freshHead', async () => {
    const kept = await loadHfCheckpoint(dir, { labels: clothes, log: recordingLogger() });
    expect(Array.from(kept.module.getParameter('classifier.weight').variable.dataSync())).toEqual(head());
    const log = recordingLogger();
    const fresh = await loadHfCheckpoint(dir, { labels: clothes, freshHead: true, log });
    expect(Array.from(fresh.module.getParameter('classifier.weight').variable.dataSync())).not.toEqual(head());
    expect(log.warnings.join('\n')).toMatch(/classifier/);
    // 28 px grey images in, 10 clothes out.
    const batch = fresh.encode!([{ id: 'a', image: { width: 28, height: 28, data: new Uint8Array(28 * 28).fill(90) }, label: 'Bag' }]);
    expect(fresh.predict!(batch).shape).toEqual([1, 10]);
  });
});
