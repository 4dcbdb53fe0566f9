import fs from 'node:fs';
import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { ADAPTER_PRESETS, type AdapterConfig } from './config';
import { adapterState, applyAdapterPlan, isAdapterParameterPath, planAdapter, unloadAdapters } from './model';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
export const KEY_PREFIX = 'base_model.model.';
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

export interface SaveAdapterOptions {
  baseModelNameOrPath?: string | null;
  taskType?: string | null;
}

export function saveAdapter(model: Module, dir: string, options: SaveAdapterOptions = {}): string {
  const cfg = adapterState(model);
  if (!cfg) throw new Error('saveAdapter: this model has no bottleneck adapters; inject them first (injectAdapter or a run with methods.adapter)');
  fs.mkdirSync(dir, { recursive: true });
  saveSafetensors(path.join(dir, ADAPTER_WEIGHTS_NAME), adapterStateDict(model), { format: 'pt' });
  const json = { peft_type: PEFT_TYPE, task_type: options.taskType ?? null, base_model_name_or_path: options.baseModelNameOrPath ?? null, inference_mode: true, ...cfg };
  fs.writeFileSync(path.join(dir, ADAPTER_CONFIG_NAME), `${JSON.stringify(json, null, 2)}\n`);
  return dir;
}

const CONFIG_FIELDS: Array<keyof AdapterConfig> = ['config', 'target_modules', 'exclude_modules', 'reduction_factor', 'non_linearity', 'scaling', 'residual_before_ln', 'ln_before', 'ln_after', 'dropout', 'init_weights'];

function readConfig(file: string): Partial<AdapterConfig> {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
  }
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
export function loadAdapter(model: Module, dir: string, options: { isTrainable?: boolean } = {}): AdapterConfig {
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
  for (const f of [configFile, weightsFile]) {
    if (!fs.existsSync(f)) throw new Error(`Cannot load adapter: ${f} does not exist (an adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME})`);
  }
  const partial = readConfig(configFile);
  let plan;
  try {
    plan = planAdapter(model, partial);
  } catch (err) {
    throw new Error(`${configFile} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
  const header = readSafetensorsHeader(weightsFile);
  const inFile = new Map([...header.tensors].map(([k, info]) => [k, info.shape]));
  // The expected shapes come from the built layers; a file that does not fit unloads them
  // again, which puts the original modules back unchanged.
  const applied = applyAdapterPlan(model, plan);
  const expected = adapterStateDict(applied);
  const problems: string[] = [];
  for (const [key, variable] of expected) {
    const got = inFile.get(key);
    if (!got) problems.push(`missing tensor "${key}"${hint(key, [...inFile.keys()].filter((k) => !expected.has(k)))}`);
    else if (!tf.util.arraysEqual(got, variable.shape)) problems.push(`tensor "${key}" has shape [${got}], the model needs [${variable.shape}]`);
  }
  for (const key of inFile.keys()) if (!expected.has(key)) problems.push(`unexpected tensor "${key}"${hint(key, [...expected.keys()].filter((k) => !inFile.has(k)))}`);
  if (problems.length) {
    unloadAdapters(model);
    throw new Error(`${weightsFile} does not fit this model:\n- ${problems.slice(0, 12).join('\n- ')}${problems.length > 12 ? `\n- … ${problems.length - 12} more` : ''}`);
  }
  const { tensors } = loadSafetensors(weightsFile);
  try {
    for (const [p, param] of model.namedParameters()) {
      if (!isAdapterParameterPath(p)) continue;
      const value = tensors.get(KEY_PREFIX + p)!;
      tf.tidy(() => param.variable.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
      param.requiresGrad = options.isTrainable ?? false;
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
