import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type TinyArch } from '../src';
import { record, recordingLogger, tempDir, testImage } from './helpers';

export function records(arch: string) {
  const label = (i: number) => (arch === 'vit' ? ['cat', 'dog'][i % 2] : arch === 'clip' ? undefined : ['neg', 'pos'][i % 2]);
  return [0, 1, 2, 3].map((i) =>
    record(`r${i}`, { text: ['good film', 'bad day', 'hello world', 'the dog'][i], image: testImage(i), label: label(i) }),
  );
}

/** Three SGD steps on every parameter lower the loss, every parameter gets a gradient, nothing leaks. */
export async function checkTraining(arch: TinyArch): Promise<void> {
  const dir = tempDir(`train-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { seed: 31 });
  const m = await loadHfCheckpoint(dir, { log: recordingLogger() });
  const batch = m.encode!(records(arch));
  const vars = [...m.module.trainableVariables().values()];
  const lossOf = () => m.loss!(batch, false);
  const first = lossOf();
  const optimizer = tf.train.sgd(0.05); // holds one learning-rate scalar of its own
  const before = tf.memory().numTensors;
  for (let step = 0; step < 3; step++) {
    const { value, grads } = tf.variableGrads(lossOf, vars);
    // Every parameter is reached by the gradient (lm_head tying, pooler, projections included).
    if (step === 0) expect(Object.keys(grads)).toHaveLength(vars.length);
    optimizer.applyGradients(grads);
    tf.dispose([value, ...Object.values(grads)]);
  }
  const leaked = tf.memory().numTensors - before;
  const last = lossOf();
  expect(last.dataSync()[0]).toBeLessThan(first.dataSync()[0]);
  expect(leaked).toBe(0);
  tf.dispose([first, last]);
  optimizer.dispose();
}
