import type { LoadedModel, RunContext } from '@leantune/core';
import { Linear, tf } from '@leantune/tensor';
import { checkMemoryFits, parameterStateBytes, WASM_HEAP_BYTES } from '@leantune/train';

/** A model whose parameter counts are given, so heap limits can be tested without 4 GiB. */
function modelWith(total: number, trainable: number): LoadedModel {
  const module = new Linear(1, 1);
  module.countParameters = () => ({ total, trainable });
  return { name: 'big', arch: 'x', module };
}

function ctx(backend: string, warnings: string[]): RunContext {
  return { backend: { name: backend, requested: backend, threads: 2, simd: true, tried: [] }, log: { info: () => {}, warn: (m: string) => warnings.push(m) } } as unknown as RunContext;
}

describe('memory check before training', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('counts weights plus gradient and optimizer buffers of the trainable ones', () => {
    expect(parameterStateBytes(modelWith(100, 10), 'adamw')).toBe(4 * (100 + 3 * 10));
    expect(parameterStateBytes(modelWith(100, 10), 'sgd')).toBe(4 * (100 + 2 * 10));
  });

  it('fails a full fine-tune that cannot fit the wasm heap, naming the sizes and the ways out', () => {
    const warnings: string[] = [];
    const huge = modelWith(300_000_000, 300_000_000); // 4.8 GB with AdamW
    expect(() => checkMemoryFits(huge, 'adamw', ctx('wasm', warnings))).toThrow(
      /needs 4\.47 GiB for weights, gradients and optimizer state \(300,000,000 parameters, 300,000,000 trainable with adamw\), but the wasm backend keeps every tensor in one WebAssembly heap of at most 4\.00 GiB\. Train fewer parameters \(e\.g\. LoRA/,
    );
    // The same model with LoRA-sized training fits, and other backends are not limited: native
    // keeps tensors off the wasm heap under its own budget (OutOfMemoryError past it).
    expect(() => checkMemoryFits(modelWith(300_000_000, 1_000_000), 'adamw', ctx('wasm', warnings))).not.toThrow();
    expect(() => checkMemoryFits(huge, 'adamw', ctx('tfjs-node', warnings))).not.toThrow();
    expect(() => checkMemoryFits(huge, 'adamw', ctx('native', warnings))).not.toThrow();
    expect(warnings).toEqual([]);
  });

  it('warns when weights and optimizer state take over half the heap', () => {
    const warnings: string[] = [];
    const bytes = 0.6 * WASM_HEAP_BYTES;
    checkMemoryFits(modelWith(bytes / 16, bytes / 16), 'adamw', ctx('wasm', warnings));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/take 2\.40 GiB of the wasm backend's 4\.00 GiB heap/);
  });
});

// The probe as real runs take it: the driver calls checkActivationsFit with the model, the
// batch size and one record, against the real 4 GiB heap; there is no other entry point.
describe('activation probe before training', () => {
  beforeAll(() => tf.setBackend('cpu'));

  it('does not probe a model below PROBE_MIN_PARAMETERS, whatever the batch', async () => {
    const { tinyLoadedModel, tinySentiment } = await import('@leantune/testing');
    const { checkActivationsFit, probeBytesPerSample, PROBE_MIN_PARAMETERS } = await import('@leantune/train');
    const model = tinyLoadedModel(['neg', 'pos']);
    const [sample] = tinySentiment(1);
    expect(model.module.countParameters().total).toBeLessThan(PROBE_MIN_PARAMETERS);
    // Probed, a billion samples would need far more than the heap: no warning means no probe.
    const perSample = await probeBytesPerSample(model, sample);
    expect(1e9 * perSample).toBeGreaterThan(WASM_HEAP_BYTES);
    const warnings: string[] = [];
    await checkActivationsFit(model, 'adamw', 1e9, sample, ctx('wasm', warnings));
    expect(warnings).toEqual([]);
  });

  it('probes a model of PROBE_MIN_PARAMETERS or more and warns about a batch whose activations may not fit the 4 GiB heap', async () => {
    const { tinyLoadedModel, tinySentiment } = await import('@leantune/testing');
    const { checkActivationsFit, probeBytesPerSample, PROBE_MIN_PARAMETERS } = await import('@leantune/train');
    // Width 4,480: a real model of 20.4M parameters, most in its 4,480 × 4,480 dense layer.
    // The base is frozen, as a PEFT run freezes it; the head trains.
    const model = tinyLoadedModel(['neg', 'pos'], { dim: 4480 });
    try {
      model.module.freeze(['embed.weight', 'encoder.dense.weight', 'encoder.dense.bias']);
      const [sample] = tinySentiment(1);
      expect(model.module.countParameters().total).toBeGreaterThanOrEqual(PROBE_MIN_PARAMETERS);
      const tensorsBefore = tf.memory().numTensors;
      const perSample = await probeBytesPerSample(model, sample);
      expect(perSample).toBeGreaterThan(0);
      expect(tf.memory().numTensors).toBe(tensorsBefore); // the probe frees what it made
      const state = parameterStateBytes(model, 'adamw');
      // The largest batch that fits 90% of the heap, from the probe's own measurement.
      const fits = Math.floor((0.9 * WASM_HEAP_BYTES - state) / perSample);
      expect(fits).toBeGreaterThan(1000);
      const warnings: string[] = [];
      await checkActivationsFit(model, 'adamw', fits, sample, ctx('wasm', warnings));
      expect(warnings).toEqual([]);
      await checkActivationsFit(model, 'adamw', fits + 1, sample, ctx('wasm', warnings));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(`model "tiny-text" at batch ${fits + 1} may need about 3.60 GiB on the wasm backend`);
      expect(warnings[0]).toContain(`beyond its 4.00 GiB WebAssembly heap, where a step stalls instead of failing. If it does, use batchSize ≤ ${fits} (with gradAccum`);
      // Other backends allocate natively: never probed, never warned.
      await checkActivationsFit(model, 'adamw', 10 * fits, sample, ctx('cpu', warnings));
      await checkActivationsFit(model, 'adamw', 10 * fits, sample, ctx('native', warnings));
      expect(warnings).toHaveLength(1);
    } finally {
      model.module.dispose();
    }
  }, 60_000);
});
