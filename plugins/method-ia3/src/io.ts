import fs from 'node:fs';
import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { IA3_DEFAULTS, type Ia3Config } from './config';
import { applyIa3Plan, ia3Layers, ia3State, planIa3 } from './model';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const KEY_PREFIX = 'base_model.model.';

/** IA3 vectors keyed as PEFT saves them: base_model.model.<layer path>.ia3_l (adapter name dropped). */
export function ia3StateDict(model: Module): Map<string, tf.Variable> {
  return new Map(ia3Layers(model).map(([p, layer]) => [`${KEY_PREFIX}${p}.ia3_l`, layer.vector]));
}

export interface SaveIa3Options {
  baseModelNameOrPath?: string | null;
  taskType?: string | null;
}

/** adapter_config.json as PEFT's IA3Config.to_dict writes it. */
export function peftIa3ConfigJson(cfg: Ia3Config, options: SaveIa3Options = {}): Record<string, unknown> {
  return {
    peft_type: 'IA3',
    task_type: options.taskType ?? null,
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
    target_modules: cfg.target_modules ?? null,
    exclude_modules: cfg.exclude_modules ?? null,
    feedforward_modules: cfg.feedforward_modules ?? null,
    fan_in_fan_out: cfg.fan_in_fan_out,
    modules_to_save: null,
    init_ia3_weights: cfg.init_ia3_weights,
  };
}

export function saveIa3(model: Module, dir: string, options: SaveIa3Options = {}): string {
  const cfg = ia3State(model);
  if (!cfg) throw new Error('saveIa3: this model has no IA3 vectors; inject them first (injectIa3 or a run with methods.ia3)');
  if (ia3Layers(model).some(([, l]) => l.merged)) throw new Error('saveIa3: the vectors are merged into the weights; unmergeIa3 first');
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), ia3StateDict(model), { format: 'pt' });
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(peftIa3ConfigJson(cfg, options), null, 2)}\n`);
  return dir;
}

function readConfig(file: string): Ia3Config {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
  if (json.peft_type !== 'IA3') throw new Error(`${file}: peft_type ${JSON.stringify(json.peft_type)} is not supported; @leantune/plugin-ia3 loads "IA3" adapters`);
  if (json.modules_to_save != null) throw new Error(`${file}: modules_to_save = ${JSON.stringify(json.modules_to_save)} is not supported by @leantune/plugin-ia3`);
  const cfg: Record<string, unknown> = {};
  for (const key of Object.keys(IA3_DEFAULTS)) if (json[key] != null) cfg[key] = json[key];
  return { ...IA3_DEFAULTS, ...cfg } as Ia3Config;
}

/** Loads a PEFT IA3 adapter folder; config, targets, keys and shapes are checked before the model changes. */
export function loadIa3(model: Module, dir: string, options: { isTrainable?: boolean } = {}): Ia3Config {
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
  for (const f of [configFile, weightsFile]) {
    if (!fs.existsSync(f)) throw new Error(`Cannot load IA3 adapter: ${f} does not exist (a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME})`);
  }
  const cfg = readConfig(configFile);
  let plan;
  try {
    plan = planIa3(model, cfg);
  } catch (err) {
    throw new Error(`${configFile} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
  const expected = new Map(plan.targets.map((t) => [`${KEY_PREFIX}${t.path}.ia3_l`, t.feedforward ? [1, t.module.inFeatures] : [t.module.outFeatures, 1]]));
  const inFile = new Map([...readSafetensorsHeader(weightsFile).tensors].map(([k, info]) => [k, info.shape]));
  const problems: string[] = [];
  for (const [key, shape] of expected) {
    const got = inFile.get(key);
    if (!got) problems.push(`missing tensor "${key}"${hint(key, [...inFile.keys()].filter((k) => !expected.has(k)))}`);
    else if (!tf.util.arraysEqual(got, shape)) problems.push(`tensor "${key}" has shape [${got}], the model needs [${shape}]`);
  }
  for (const key of inFile.keys()) if (!expected.has(key)) problems.push(`unexpected tensor "${key}"${hint(key, [...expected.keys()].filter((k) => !inFile.has(k)))}`);
  if (problems.length) throw new Error(`${weightsFile} does not fit this model:\n- ${problems.slice(0, 12).join('\n- ')}`);
  applyIa3Plan(model, plan, true);
  const { tensors } = loadSafetensors(weightsFile);
  try {
    for (const [p, layer] of ia3Layers(model)) {
      const value = tensors.get(`${KEY_PREFIX}${p}.ia3_l`)!;
      tf.tidy(() => layer.vector.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
      // PEFT's is_trainable: loaded vectors are frozen (inference) unless asked otherwise.
      if (options.isTrainable) layer.child('ia3_l')!.unfreeze();
      else layer.child('ia3_l')!.freeze();
    }
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return plan.config;
}

function hint(key: string, candidates: string[]): string {
  const close = closeMatches(key, candidates, 2);
  return close.length ? ` (closest: ${close.map((c) => `"${c}"`).join(', ')})` : '';
}
