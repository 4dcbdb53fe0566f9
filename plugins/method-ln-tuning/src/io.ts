import { adapterFolderFiles, assignFloat32, doesNotFitError, PEFT_KEY_PREFIX as KEY_PREFIX, peftConfigHeader, type PeftSaveOptions, planForConfig, readJsonConfig, safetensorsShapes, tensorFitProblems, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import type { Module, tf } from '@leantune/tensor';
import type { MethodHandle } from '@leantune/core';
import { selectionHandle } from '@leantune/peft';
import { applyRunningStats, selectLayerNorms, selectsBatchNorm, type LnTuningConfig, type LnTuningSelection } from './select';

export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PEFT_KEY_PREFIX as KEY_PREFIX } from '@leantune/peft';

/**
 * Saved key of a LayerNorm parameter, as PEFT's LN_TUNING writes it: PEFT trains a copy in
 * `<ln>.ln_tuning_layers.<adapter>` and saves it without the adapter name.
 */
export function savedKey(modulePath: string, param: string): string {
  return `${KEY_PREFIX}${modulePath}.ln_tuning_layers.${param}`;
}

function stateDict(model: Module, modules: string[]): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const m of modules) for (const [name, p] of model.getSubmodule(m).namedParameters()) out.set(savedKey(m, name), p.variable);
  return out;
}

export type SaveLnTuningOptions = PeftSaveOptions;

/** Writes a PEFT LN_TUNING adapter folder: adapter_config.json + adapter_model.safetensors. */
export function saveLnTuning(model: Module, dir: string, selection: LnTuningSelection, options: SaveLnTuningOptions = {}): string {
  const json = {
    ...peftConfigHeader('LN_TUNING', options),
    // As written, as PEFT saves them; unset: the selected paths (PEFT would write its
    // per-architecture names, and has none for most models).
    target_modules: selection.written ?? [...selection.modules].sort(),
    exclude_modules: selection.config.exclude_modules ?? null,
    modules_to_save: null,
    // Not PEFT fields: written only when BatchNorms are tuned, so a LayerNorm file stays PEFT's.
    ...(selectsBatchNorm(model, selection) ? { running_stats: selection.config.running_stats, momentum: selection.config.momentum } : {}),
  };
  return writeAdapterFolder(dir, stateDict(model, selection.modules), json);
}

/** Loads a PEFT LN_TUNING folder into the model's LayerNorms (in place); all keys and shapes are checked first. */
export function loadLnTuning(model: Module, dir: string): LnTuningSelection {
  const { configFile, weightsFile } = adapterFolderFiles(dir, 'LN tuning adapter');
  const json = readJsonConfig(configFile);
  if (json.peft_type !== 'LN_TUNING') throw new Error(`${configFile}: peft_type ${JSON.stringify(json.peft_type)} is not supported; @leantune/plugin-ln-tuning loads "LN_TUNING" adapters`);
  const selection = planForConfig(configFile, () =>
    selectLayerNorms(model, {
      target_modules: json.target_modules as string[] | string | null,
      exclude_modules: json.exclude_modules as string[] | string | null,
      ...(json.running_stats != null ? { running_stats: json.running_stats as LnTuningConfig['running_stats'] } : {}),
      ...(json.momentum != null ? { momentum: json.momentum as number } : {}),
    }),
  );
  const expected = stateDict(model, selection.modules);
  const problems = tensorFitProblems(new Map([...expected].map(([key, v]) => [key, v.shape])), safetensorsShapes(weightsFile));
  if (problems.length) throw doesNotFitError(weightsFile, problems);
  withSafetensors(weightsFile, (tensors) => {
    for (const [key, v] of expected) assignFloat32(v, tensors.get(key)!);
  });
  return selection;
}

/** LN tuning's handle: the selected norms' parameters, trained in place, saved as PEFT LN_TUNING (BatchNorms: their running-statistics mode set first). */
export function lnTuningHandle(model: Module, selection: LnTuningSelection): MethodHandle<LnTuningConfig> {
  applyRunningStats(model, selection);
  // A BatchNorm's running statistics are buffers: saved with the adapter, never trained.
  const params = selection.modules.flatMap((p) => [...model.getSubmodule(p).namedParameters()].map(([, param]) => param).filter((param) => !param.buffer));
  return selectionHandle(selection.config, params, (dir) => void saveLnTuning(model, dir, selection));
}
