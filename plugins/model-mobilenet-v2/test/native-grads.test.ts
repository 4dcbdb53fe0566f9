import type { Batch, LoadedModel } from '@leantune/core';
import { initBackend, tf } from '@leantune/tensor';
import { loadMobileNetV2 } from '../src';
import { warmColdRecords } from './records';

jest.setTimeout(120_000);

/**
 * Full fine-tuning's gradients on the native backend against the cpu backend's own kernels:
 * every convolution gradient there is im2col + GEMM (the 3×3 stride-2 stem's filter gradient
 * included) and ReLU6's backward is one fused kernel, so every parameter's gradient must still
 * agree with tfjs's loops. 32 px, four images, BatchNorm on its running statistics
 * (no dropout: eval mode) so both backends compute the same function.
 */
function gradients(model: LoadedModel, batch: Batch): Map<string, Float32Array> {
  return tf.tidy(() => {
    const named = [...model.module.trainableVariables()];
    const { grads } = tf.variableGrads(() => model.loss!(batch, false), named.map(([, v]) => v));
    return new Map(named.map(([path, v]) => [path, grads[v.name].dataSync() as Float32Array]));
  });
}

describe('MobileNetV2 full fine-tuning gradients on the native backend', () => {
  it('equal the cpu backend\'s for every parameter, to 2e-5 of each gradient\'s largest value (3.1e-6 measured)', async () => {
    const grads: Record<string, Map<string, Float32Array>> = {};
    // The fresh head is drawn once (on cpu) and given to the native model as values.
    let head: Array<[string, number[], Float32Array]> = [];
    for (const backend of ['cpu', 'native'] as const) {
      await initBackend({ backend, threads: 1 });
      expect(tf.getBackend()).toBe(backend);
      const model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['warm', 'cold'], inputSize: 32 });
      const classifier = model.module.getSubmodule('classifier');
      if (head.length === 0) head = [...classifier.stateDict()].map(([k, v]) => [k, v.shape, v.dataSync() as Float32Array]);
      else classifier.loadStateDict(new Map(head.map(([k, shape, values]) => [k, tf.tensor(values, shape)])));
      model.module.unfreeze();
      grads[backend] = gradients(model, model.encode!(warmColdRecords(32)));
      model.module.dispose();
    }
    const cpu = grads.cpu;
    const native = grads.native;
    expect([...native.keys()]).toEqual([...cpu.keys()]);
    expect(cpu.size).toBeGreaterThan(150);
    // The largest difference relative to its own gradient's scale, over every parameter.
    let worst = 0;
    for (const [path, want] of cpu) {
      const got = native.get(path)!;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      expect(scale).toBeGreaterThan(0);
      let diff = 0;
      for (let i = 0; i < want.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
      worst = Math.max(worst, diff / scale);
    }
    expect(worst).toBeLessThanOrEqual(2e-5);
    await tf.setBackend('cpu');
  });
});
