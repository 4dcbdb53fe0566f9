import { RunError, type LoadedModel, type RunContext } from '@leantune/core';

/** Backends whose tensors live in one WebAssembly memory, which cannot grow past 4 GiB. */
const WASM_HEAP_BACKENDS = new Set(['wasm', 'native']);
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
      `Model "${model.name}" needs ${gib(need)} for weights, gradients and optimizer state (${what}), but the ${backend} backend keeps every tensor in one WebAssembly heap of at most ${gib(WASM_HEAP_BYTES)}. Train fewer parameters (e.g. LoRA instead of full fine-tuning), use SGD, or install @tensorflow/tfjs-node where it can be installed.`,
    );
  }
  if (need > 0.5 * WASM_HEAP_BYTES) {
    ctx.log.warn(`model "${model.name}": weights and optimizer state take ${gib(need)} of the ${backend} backend's ${gib(WASM_HEAP_BYTES)} heap (${what}); activations need the rest, so a large batch may not fit`);
  }
}
