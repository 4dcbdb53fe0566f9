import { adapterFolderFiles, assignFloat32, doesNotFitError, PEFT_KEY_PREFIX as KEY_PREFIX, type PeftSaveOptions, planForConfig, readJsonConfig, safetensorsShapes, tensorFitProblems, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import type { Module, tf } from '@leantune/tensor';
import { ADAPTER_PRESETS, type AdapterConfig } from './config';
import { AdapterModel, isAdapterParameterPath, planAdapter } from './model';

export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PEFT_KEY_PREFIX as KEY_PREFIX } from '@leantune/peft';
/**
 * Python PEFT has no bottleneck adapter, so this peft_type is our own; the folder is shaped
 * like a PEFT adapter (same file names, key prefix, config fields in snake_case).
 */
export const PEFT_TYPE = 'BOTTLENECK';

/** Adapter parameters keyed as saved: base_model.model.<module path>.adapter_down.weight, … */
export function adapterStateDict(model: Module): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [p, param] of model.namedParameters()) if (isAdapterParameterPath(p)) out.set(KEY_PREFIX + p, param.variable);
  return out;
}

export type SaveAdapterOptions = PeftSaveOptions;

export function saveAdapter(adapters: AdapterModel, dir: string, options: SaveAdapterOptions = {}): string {
  if (adapters.layers().length === 0) throw new Error('saveAdapter: the model holds no bottleneck adapters any more (unloaded?)');
  const { model, config: cfg } = adapters;
  const json = { peft_type: PEFT_TYPE, task_type: options.taskType ?? null, base_model_name_or_path: options.baseModelNameOrPath ?? null, inference_mode: true, ...cfg };
  return writeAdapterFolder(dir, adapterStateDict(model), json);
}

const CONFIG_FIELDS: Array<keyof AdapterConfig> = ['config', 'target_modules', 'exclude_modules', 'reduction_factor', 'non_linearity', 'scaling', 'residual_before_ln', 'ln_before', 'ln_after', 'dropout', 'init_weights'];

function readConfig(file: string): Partial<AdapterConfig> {
  const json = readJsonConfig(file);
  if (json.peft_type !== PEFT_TYPE) {
    throw new Error(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not "${PEFT_TYPE}"; @leantune/plugin-adapter loads bottleneck adapters it saved`);
  }
  if (!ADAPTER_PRESETS.includes(json.config as never)) throw new Error(`${file}: config ${JSON.stringify(json.config)} is not one of ${ADAPTER_PRESETS.join(', ')}`);
  const cfg: Record<string, unknown> = {};
  for (const key of CONFIG_FIELDS) if (json[key] !== undefined && json[key] !== null) cfg[key] = json[key];
  return cfg as Partial<AdapterConfig>;
}

/**
 * Loads an adapter folder written by saveAdapter onto `model`. Config, targets, keys and
 * shapes are all checked; on any mismatch the model is left as it was. Loaded adapters are frozen unless isTrainable.
 */
export function loadAdapter(model: Module, dir: string, options: { isTrainable?: boolean } = {}): AdapterModel {
  const { configFile, weightsFile } = adapterFolderFiles(dir, 'adapter', 'an adapter folder');
  const partial = readConfig(configFile);
  const plan = planForConfig(configFile, () => planAdapter(model, partial));
  const inFile = safetensorsShapes(weightsFile);
  // The expected shapes come from the built layers; a file that does not fit unloads them
  // again, which puts the original modules back unchanged.
  const applied = AdapterModel.apply(model, plan);
  const expected = new Map([...adapterStateDict(applied.model)].map(([key, variable]) => [key, variable.shape]));
  const problems = tensorFitProblems(expected, inFile);
  if (problems.length) {
    applied.unload();
    throw doesNotFitError(weightsFile, problems, { countRest: true });
  }
  withSafetensors(weightsFile, (tensors) => {
    for (const [p, param] of model.namedParameters()) {
      if (!isAdapterParameterPath(p)) continue;
      assignFloat32(param.variable, tensors.get(KEY_PREFIX + p)!);
      param.requiresGrad = options.isTrainable ?? false;
    }
  });
  return applied;
}
