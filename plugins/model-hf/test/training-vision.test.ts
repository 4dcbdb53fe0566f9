import { tf } from '@leantune/tensor';
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
