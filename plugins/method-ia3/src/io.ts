import { adapterFolderFiles, assignFloat32, doesNotFitError, PEFT_KEY_PREFIX as KEY_PREFIX, peftConfigHeader, type PeftSaveOptions, planForConfig, readJsonConfig, safetensorsShapes, tensorFitProblems, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import type { Module, tf } from '@leantune/tensor';
import { IA3_DEFAULTS, type Ia3Config } from './config';
import { ia3VectorShape } from './ia3-layer';
import { emitIa3Warnings, Ia3Model, ia3Layers, planIa3, type InjectIa3Options } from './model';

export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PEFT_KEY_PREFIX as KEY_PREFIX } from '@leantune/peft';

/** IA3 vectors keyed as PEFT saves them: base_model.model.<layer path>.ia3_l (adapter name dropped). */
export function ia3StateDict(model: Module): Map<string, tf.Variable> {
  return new Map(ia3Layers(model).map(([p, layer]) => [`${KEY_PREFIX}${p}.ia3_l`, layer.vector]));
}

export type SaveIa3Options = PeftSaveOptions;

/** adapter_config.json as PEFT 0.18.0's IA3Config.to_dict writes it: every field, targets as written. */
export function peftIa3ConfigJson(cfg: Ia3Config, options: SaveIa3Options = {}): Record<string, unknown> {
  return {
    ...peftConfigHeader('IA3', options),
    target_modules: cfg.target_modules ?? null,
    exclude_modules: cfg.exclude_modules ?? null,
    feedforward_modules: cfg.feedforward_modules ?? null,
    fan_in_fan_out: cfg.fan_in_fan_out,
    modules_to_save: null,
    init_ia3_weights: cfg.init_ia3_weights,
  };
}

export function saveIa3(ia3: Ia3Model, dir: string, options: SaveIa3Options = {}): string {
  if (ia3.layers().length === 0) throw new Error('saveIa3: the model holds no IA3 vectors any more (unloaded?)');
  if (ia3.layers().some(([, l]) => l.merged)) throw new Error('saveIa3: the vectors are merged into the weights; unmerge first');
  return writeAdapterFolder(dir, ia3StateDict(ia3.model), peftIa3ConfigJson(ia3.config, options));
}

function readConfig(file: string): Ia3Config {
  const json = readJsonConfig(file);
  if (json.peft_type !== 'IA3') throw new Error(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not supported; @leantune/plugin-ia3 loads "IA3" adapters`);
  if (json.modules_to_save != null) throw new Error(`${file}: modules_to_save = ${JSON.stringify(json.modules_to_save)} is not supported by @leantune/plugin-ia3`);
  const cfg: Record<string, unknown> = {};
  for (const key of Object.keys(IA3_DEFAULTS)) if (json[key] != null) cfg[key] = json[key];
  return { ...IA3_DEFAULTS, ...cfg } as Ia3Config;
}

export interface LoadIa3Options extends Pick<InjectIa3Options, 'arch' | 'defaultTargets' | 'warn'> {
  isTrainable?: boolean;
}

/**
 * Loads a PEFT IA3 adapter folder; config, targets, keys and shapes are checked before the
 * model changes. A config without feedforward_modules (or target_modules) gets the
 * architecture's table (`options.arch`) as PEFT's _prepare_adapter_config does; where there is
 * none, the load warns (see the README's deliberate differences).
 */
export function loadIa3(model: Module, dir: string, options: LoadIa3Options = {}): Ia3Model {
  const { configFile, weightsFile } = adapterFolderFiles(dir, 'IA3 adapter');
  const cfg = readConfig(configFile);
  const plan = planForConfig(configFile, () => planIa3(model, cfg, { arch: options.arch, defaultTargets: options.defaultTargets }));
  emitIa3Warnings(plan, options.warn);
  const expected = new Map(plan.targets.map((t) => [`${KEY_PREFIX}${t.path}.ia3_l`, ia3VectorShape(t.module, t.feedforward)]));
  const problems = tensorFitProblems(expected, safetensorsShapes(weightsFile));
  if (problems.length) throw doesNotFitError(weightsFile, problems);
  const ia3 = Ia3Model.apply(model, plan, true);
  withSafetensors(weightsFile, (tensors) => {
    for (const [p, layer] of ia3Layers(model)) {
      assignFloat32(layer.vector, tensors.get(`${KEY_PREFIX}${p}.ia3_l`)!);
      // PEFT's is_trainable: loaded vectors are frozen (inference) unless asked otherwise.
      if (options.isTrainable) layer.child('ia3_l')!.unfreeze();
      else layer.child('ia3_l')!.freeze();
    }
  });
  return ia3;
}
