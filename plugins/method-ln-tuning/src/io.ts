import fs from 'node:fs';
import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { selectLayerNorms, type LnTuningSelection } from './select';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const KEY_PREFIX = 'base_model.model.';

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

export interface SaveLnTuningOptions {
  baseModelNameOrPath?: string | null;
  taskType?: string | null;
}

/** Writes a PEFT LN_TUNING adapter folder: adapter_config.json + adapter_model.safetensors. */
export function saveLnTuning(model: Module, dir: string, selection: LnTuningSelection, options: SaveLnTuningOptions = {}): string {
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), stateDict(model, selection.modules), { format: 'pt' });
  const json = {
    peft_type: 'LN_TUNING',
    task_type: options.taskType ?? null,
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
    target_modules: [...selection.modules].sort(),
    exclude_modules: selection.config.exclude_modules ?? null,
    modules_to_save: null,
  };
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(json, null, 2)}\n`);
  return dir;
}

/** Loads a PEFT LN_TUNING folder into the model's LayerNorms (in place); all keys and shapes are checked first. */
export function loadLnTuning(model: Module, dir: string): LnTuningSelection {
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
  for (const f of [configFile, weightsFile]) {
    if (!fs.existsSync(f)) throw new Error(`Cannot load LN tuning adapter: ${f} does not exist (a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME})`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${configFile}: not valid JSON (${(err as Error).message})`);
  }
  if (json.peft_type !== 'LN_TUNING') throw new Error(`${configFile}: peft_type ${JSON.stringify(json.peft_type)} is not supported; @leantune/plugin-ln-tuning loads "LN_TUNING" adapters`);
  let selection: LnTuningSelection;
  try {
    selection = selectLayerNorms(model, { target_modules: json.target_modules as string[] | string | null, exclude_modules: json.exclude_modules as string[] | string | null });
  } catch (err) {
    throw new Error(`${configFile} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
  const expected = stateDict(model, selection.modules);
  const inFile = new Map([...readSafetensorsHeader(weightsFile).tensors].map(([k, info]) => [k, info.shape]));
  const problems: string[] = [];
  for (const [key, v] of expected) {
    const got = inFile.get(key);
    if (!got) problems.push(`missing tensor "${key}"${hint(key, [...inFile.keys()].filter((k) => !expected.has(k)))}`);
    else if (!tf.util.arraysEqual(got, v.shape)) problems.push(`tensor "${key}" has shape [${got}], the model needs [${v.shape}]`);
  }
  for (const key of inFile.keys()) if (!expected.has(key)) problems.push(`unexpected tensor "${key}"${hint(key, [...expected.keys()].filter((k) => !inFile.has(k)))}`);
  if (problems.length) throw new Error(`${weightsFile} does not fit this model:\n- ${problems.slice(0, 12).join('\n- ')}`);
  const { tensors } = loadSafetensors(weightsFile);
  try {
    for (const [key, v] of expected) {
      const value = tensors.get(key)!;
      tf.tidy(() => v.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
    }
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return selection;
}

function hint(key: string, candidates: string[]): string {
  const close = closeMatches(key, candidates, 2);
  return close.length ? ` (closest: ${close.map((c) => `"${c}"`).join(', ')})` : '';
}
