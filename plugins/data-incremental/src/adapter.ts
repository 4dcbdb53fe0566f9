import type { Module } from '@leantune/tensor';
import { LoraModel, type LoraConfig } from '@leantune/plugin-lora';

/** The adapter name a LoRA parameter path belongs to (`…lora_A.<name>.weight`), or undefined. */
function adapterOf(path: string): string | undefined {
  const segments = path.split('.');
  const i = segments.findIndex((s) => s.startsWith('lora_'));
  return i >= 0 ? segments[i + 1] : undefined;
}

/**
 * Starts an increment as a new LoRA adapter (plugins/method-lora's multi-adapter API):
 * injects adapter `name`, keeps earlier adapters active but frozen (their outputs add up, as
 * PEFT sums active adapters), and leaves only the new adapter trainable; the base stays
 * frozen. With `stack: false` only the new adapter is active, so each task switches with
 * setAdapter instead. `lora` is the handle of earlier increments' adapters on this model
 * (undefined for the first). Returns the handle and the active adapters.
 */
export function addIncrementAdapter(
  lora: LoraModel | undefined,
  module: Module,
  name: string,
  config: Partial<LoraConfig>,
  options: { stack?: boolean; arch?: string } = {},
): { lora: LoraModel; active: string[] } {
  if (lora && lora.model !== module) throw new Error('addIncrementAdapter: the LoRA handle belongs to another model');
  const handle = lora ?? new LoraModel(module);
  const previous = handle.activeAdapters();
  handle.addAdapter(config, { adapterName: name, arch: options.arch });
  const active = options.stack === false ? [name] : [...previous.filter((a) => a !== name), name];
  handle.setAdapter(active);
  for (const [path, p] of module.namedParameters()) p.requiresGrad = adapterOf(path) === name;
  return { lora: handle, active };
}
