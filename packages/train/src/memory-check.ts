import { RunError, type DataRecord, type LoadedModel, type RunContext } from '@leantune/core';
import { tf } from '@leantune/tensor';

/**
 * Backends whose tensors live in one WebAssembly memory, which cannot grow past 4 GiB. The
 * native backend keeps each tensor in its own buffer under a memory budget and throws
 * OutOfMemoryError when an allocation would pass it, so it needs no check here.
 */
const WASM_HEAP_BACKENDS = new Set(['wasm']);
export const WASM_HEAP_BYTES = 4 * 1024 ** 3;

/**
 * Bytes the parameters and optimizer state need: every weight, plus for each trainable one
 * its gradient and the optimizer's buffers (AdamW: two moments; SGD: one momentum buffer).
 * Activations come on top and depend on the batch; they are not counted here.
 */
export function parameterStateBytes(model: LoadedModel, optimizer: 'adamw' | 'sgd'): number {
  const { total, trainable } = model.module.countParameters();
  const perTrainable = 1 + (optimizer === 'adamw' ? 2 : 1);
  return 4 * (total + perTrainable * trainable);
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/**
 * Fails before the first step, not mid-run, when parameters and optimizer state alone
 * cannot fit the wasm heap, and warns when they take most of it (activations still need
 * room). Other backends allocate natively and are not checked.
 */
export function checkMemoryFits(model: LoadedModel, optimizer: 'adamw' | 'sgd', ctx: RunContext): void {
  const backend = ctx.backend?.name;
  if (!backend || !WASM_HEAP_BACKENDS.has(backend)) return;
  const need = parameterStateBytes(model, optimizer);
  const { total, trainable } = model.module.countParameters();
  const what = `${total.toLocaleString('en')} parameters, ${trainable.toLocaleString('en')} trainable with ${optimizer}`;
  if (need > 0.9 * WASM_HEAP_BYTES) {
    throw new RunError(
      `Model "${model.name}" needs ${gib(need)} for weights, gradients and optimizer state (${what}), but the ${backend} backend keeps every tensor in one WebAssembly heap of at most ${gib(WASM_HEAP_BYTES)}. Train fewer parameters (e.g. LoRA instead of full fine-tuning), use SGD, use the native backend (@leantune/native, no heap limit), or install @tensorflow/tfjs-node where it can be installed.`,
    );
  }
  if (need > 0.5 * WASM_HEAP_BYTES) {
    ctx.log.warn(`model "${model.name}": weights and optimizer state take ${gib(need)} of the ${backend} backend's ${gib(WASM_HEAP_BYTES)} heap (${what}); activations need the rest, so a large batch may not fit`);
  }
}

/** Below this many parameters a model's activations cannot approach the heap at sane batches. */
export const PROBE_MIN_PARAMETERS = 20_000_000;

/**
 * Heap bytes one training sample adds (activations kept for backward, gradients), measured
 * with one forward and backward pass at batch 1 (tf.profile's peak over the pass).
 */
export async function probeBytesPerSample(model: LoadedModel, sample: DataRecord): Promise<number> {
  const vars = [...model.module.trainableVariables().values()];
  const before = tf.memory().numBytes;
  const info = await tf.profile(() => {
    tf.tidy(() => {
      const batch = model.encode!([sample]);
      tf.variableGrads(() => model.loss!(batch, true), vars);
    });
  });
  // Gradients are counted in the parameter state already, and do not grow with the batch.
  const gradientBytes = 4 * model.module.countParameters().trainable;
  return Math.max(0, info.peakBytes - before - gradientBytes);
}

/**
 * For large models on the wasm heap, the activations of a whole batch decide whether a step
 * fits, and past the heap the wasm backend stalls instead of failing. One sample is measured
 * and a warning given before training when batchSize of them look too big. It warns rather
 * than fails: tfjs's byte count over-states the heap by up to ~1.7× here (d 512 × 8 layers,
 * batch 8: estimated 4.98 GiB, trained at 2.9 GB RSS), so a hard stop would refuse runs that fit.
 */
export async function checkActivationsFit(model: LoadedModel, optimizer: 'adamw' | 'sgd', batchSize: number, sample: DataRecord | undefined, ctx: RunContext): Promise<void> {
  const backend = ctx.backend?.name;
  if (!backend || !WASM_HEAP_BACKENDS.has(backend) || !sample || !model.encode || !model.loss) return;
  if (model.module.countParameters().total < PROBE_MIN_PARAMETERS) return;
  const heapBytes = WASM_HEAP_BYTES;
  const perSample = await probeBytesPerSample(model, sample);
  const need = parameterStateBytes(model, optimizer) + batchSize * perSample;
  if (need > 0.9 * heapBytes) {
    const fits = Math.max(1, Math.floor((0.9 * heapBytes - parameterStateBytes(model, optimizer)) / Math.max(perSample, 1)));
    ctx.log.warn(
      `model "${model.name}" at batch ${batchSize} may need about ${gib(need)} on the ${backend} backend (${gib(perSample)} per sample as tfjs counts it, plus weights and optimizer state), beyond its ${gib(heapBytes)} WebAssembly heap, where a step stalls instead of failing. If it does, use batchSize ≤ ${fits} (with gradAccum for the same effective batch), train fewer parameters (LoRA), or install @tensorflow/tfjs-node where it can be installed.`,
    );
  }
}
