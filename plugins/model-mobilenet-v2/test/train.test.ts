import { tf } from '@leantune/tensor';
import type { Batch, LoadedModel } from '@leantune/core';
import { loadMobileNetV2 } from '../src';
import { warmColdRecords } from './records';

// A depthwise conv near the input, a 1×1 conv, a BatchNorm scale and the classifier.
const TRAINABLE = ['features.1.depthwise.conv.weight', 'features.4.expand.conv.weight', 'features.17.project.bn.weight', 'classifier.weight'];

function lossValue(model: LoadedModel, batch: Batch): number {
  return tf.tidy(() => model.loss!(batch, false).dataSync()[0]);
}

describe('training through the whole network', () => {
  let model: LoadedModel;
  let batch: Batch;
  beforeAll(async () => {
    tf.setBackend('cpu');
    model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['warm', 'cold'], inputSize: 32 });
    model.module.freeze();
    model.module.unfreeze(TRAINABLE);
    batch = model.encode!(warmColdRecords(64));
  });
  afterAll(() => model.module.dispose());

  it('gives finite, non-zero gradients from the loss down to the first block (ReLU6, depthwise, BN, residual adds)', () => {
    const vars = [...model.module.trainableVariables().values()];
    expect([...model.module.trainableVariables().keys()]).toEqual(TRAINABLE);
    const { value, grads } = tf.variableGrads(() => model.loss!(batch, false), vars);
    expect(Number.isFinite(value.dataSync()[0])).toBe(true);
    for (const v of vars) {
      const g = grads[v.name];
      const norm = tf.norm(g).dataSync()[0];
      expect(g.shape).toEqual(v.shape);
      expect(Number.isFinite(norm) && norm > 0).toBe(true);
    }
    // The depthwise gradient matches a central finite difference along its own direction.
    const dw = model.module.getParameter('features.1.depthwise.conv.weight').variable;
    const g = grads[dw.name];
    const gNorm = tf.norm(g).dataSync()[0];
    const d = tf.div(g, gNorm);
    const original = tf.clone(dw);
    const eps = 1e-3;
    dw.assign(tf.add(original, tf.mul(d, eps)));
    const up = lossValue(model, batch);
    dw.assign(tf.sub(original, tf.mul(d, eps)));
    const down = lossValue(model, batch);
    dw.assign(original);
    const numeric = (up - down) / (2 * eps);
    expect(Math.abs(numeric - gNorm) / gNorm).toBeLessThan(0.03);
  });

  it('lowers the loss with a few SGD steps, and leaves frozen BatchNorm statistics alone', () => {
    const runningMean = model.module.getParameter('features.1.depthwise.bn.running_mean').variable;
    const statsBefore = tf.clone(runningMean);
    // Only the last stages train here, so backprop stays short; dropout is on (training).
    model.module.freeze();
    model.module.unfreeze(['features.17.project.bn.weight', 'features.17.project.bn.bias', 'classifier.weight', 'classifier.bias']);
    const vars = [...model.module.trainableVariables().values()];
    const start = lossValue(model, batch);
    for (let step = 0; step < 3; step++) {
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => model.loss!(batch, true), vars);
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], 0.05)));
      });
    }
    const end = lossValue(model, batch);
    expect(end).toBeLessThan(start);
    expect(tf.max(tf.abs(tf.sub(runningMean, statsBefore))).dataSync()[0]).toBe(0);
  });
});

it("batchNorm: 'train' uses batch statistics while training and updates the running ones", async () => {
  const model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['warm', 'cold'], inputSize: 32, batchNorm: 'train' });
  model.module.freeze();
  const batch = model.encode!(warmColdRecords(64));
  const runningMean = model.module.getParameter('features.1.depthwise.bn.running_mean').variable;
  const before = tf.clone(runningMean);
  const trainLoss = tf.tidy(() => model.loss!(batch, true).dataSync()[0]);
  expect(tf.max(tf.abs(tf.sub(runningMean, before))).dataSync()[0]).toBeGreaterThan(0);
  runningMean.assign(before);
  expect(lossValue(model, batch)).not.toBeCloseTo(trainLoss, 3);
  model.module.dispose();
});
