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

describe('activation probe before training', () => {
  it('measures one sample and warns about a batch whose activations may not fit the heap', async () => {
    const { tinyLoadedModel, tinySentiment } = await import('@leantune/testing');
    const { checkActivationsFit, probeBytesPerSample } = await import('@leantune/train');
    const model = tinyLoadedModel(['neg', 'pos']);
    const [sample] = tinySentiment(1);
    const tensorsBefore = tf.memory().numTensors;
    const perSample = await probeBytesPerSample(model, sample);
    expect(perSample).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(tensorsBefore); // the probe frees what it made
    const state = parameterStateBytes(model, 'adamw');
    const heap = (state + 10.5 * perSample) / 0.9; // room for 10 samples
    const warnings: string[] = [];
    await checkActivationsFit(model, 'adamw', 64, sample, ctx('wasm', warnings), heap);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/at batch 64 may need about .* on the wasm backend .* use batchSize ≤ 10 \(with gradAccum/);
    await checkActivationsFit(model, 'adamw', 8, sample, ctx('wasm', warnings), heap);
    await checkActivationsFit(model, 'adamw', 64, sample, ctx('cpu', warnings), heap);
    await checkActivationsFit(model, 'adamw', 64, sample, ctx('native', warnings), heap);
    expect(warnings).toHaveLength(1);
  });
});
