import fs from 'node:fs';
import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { loadSafetensors, readSafetensorsHeader, saveSafetensors, tf, type Module } from '@leantune/tensor';
import { LORA_DEFAULTS, type LoraConfig } from './config';
import { adapterConfig, applyPlan, planLora } from './model';
import { ModulesToSaveWrapper } from './modules-to-save';

export const ADAPTER_CONFIG_NAME = 'adapter_config.json';
export const ADAPTER_WEIGHTS_NAME = 'adapter_model.safetensors';
/** PeftModel wraps LoraModel wraps the transformers model: every saved key starts so. */
export const KEY_PREFIX = 'base_model.model.';

const KNOWN_PEFT_TYPES = ['LORA', 'ADALORA', 'LOHA', 'LOKR', 'IA3', 'BOFT', 'OFT', 'VERA', 'PROMPT_TUNING', 'PREFIX_TUNING', 'P_TUNING', 'ADAPTION_PROMPT'];

/** Saved-file key of an in-memory adapter parameter, or undefined if the path is not adapter `name`'s. */
export function savedKeyFor(paramPath: string, name: string): string | undefined {
  const segments = paramPath.split('.');
  const i = segments.findIndex((s, j) => (s.startsWith('lora_') || s === 'modules_to_save') && segments[j + 1] === name);
  if (i < 0) return undefined;
  let key: string[];
  if (segments[i] === 'modules_to_save') key = [...segments.slice(0, i), ...segments.slice(i + 2)];
  else if (segments[i] === 'lora_magnitude_vector') key = segments.slice(0, i + 1); // PEFT drops ".<adapter>.weight"
  else key = [...segments.slice(0, i + 1), ...segments.slice(i + 2)];
  return KEY_PREFIX + key.join('.');
}

/** adapter `name`'s parameters keyed as PEFT saves them. */
export function adapterStateDict(model: Module, name = 'default'): Map<string, tf.Variable> {
  const out = new Map<string, tf.Variable>();
  for (const [p, param] of model.namedParameters()) {
    const key = savedKeyFor(p, name);
    if (key) out.set(key, param.variable);
  }
  return out;
}

export interface SaveAdapterOptions {
  adapterName?: string;
  /** Written as base_model_name_or_path, e.g. "gpt2". */
  baseModelNameOrPath?: string | null;
  /** PEFT task_type, e.g. "CAUSAL_LM", "SEQ_CLS". */
  taskType?: string | null;
}

/** adapter_config.json as PEFT's LoraConfig.to_dict writes it (fields we do not implement at their defaults). */
export function peftConfigJson(cfg: LoraConfig, options: SaveAdapterOptions = {}): Record<string, unknown> {
  return {
    peft_type: 'LORA',
    task_type: options.taskType ?? null,
    base_model_name_or_path: options.baseModelNameOrPath ?? null,
    revision: null,
    inference_mode: true,
    auto_mapping: null,
    r: cfg.r,
    lora_alpha: cfg.lora_alpha,
    lora_dropout: cfg.lora_dropout,
    target_modules: cfg.target_modules ?? null,
    exclude_modules: cfg.exclude_modules ?? null,
    fan_in_fan_out: cfg.fan_in_fan_out,
    bias: cfg.bias,
    use_rslora: cfg.use_rslora,
    modules_to_save: cfg.modules_to_save ?? null,
    init_lora_weights: cfg.init_lora_weights,
    layers_to_transform: cfg.layers_to_transform ?? null,
    layers_pattern: cfg.layers_pattern ?? null,
    rank_pattern: cfg.rank_pattern ?? {},
    alpha_pattern: cfg.alpha_pattern ?? {},
    use_dora: cfg.use_dora,
    lora_bias: false,
    layer_replication: null,
    loftq_config: {},
    megatron_config: null,
    megatron_core: 'megatron.core',
  };
}

/**
 * Writes adapter_config.json + adapter_model.safetensors (metadata {"format": "pt"}) as
 * PEFT's save_pretrained does; a non-default adapter goes into the subfolder named after it.
 * Returns the folder written.
 */
export function saveAdapter(model: Module, dir: string, options: SaveAdapterOptions = {}): string {
  const name = options.adapterName ?? 'default';
  const cfg = adapterConfig(model, name);
  const out = name === 'default' ? dir : path.join(dir, name);
  fs.mkdirSync(out, { recursive: true });
  saveSafetensors(path.join(out, ADAPTER_WEIGHTS_NAME), adapterStateDict(model, name), { format: 'pt' });
  fs.writeFileSync(path.join(out, ADAPTER_CONFIG_NAME), `${JSON.stringify(peftConfigJson(cfg, options), null, 2)}\n`);
  return out;
}

/** Fields PEFT has that change the computation and that we do not implement, with their inert values. */
const UNSUPPORTED_IF_SET: Record<string, (v: unknown) => boolean> = {
  lora_bias: (v) => v === true,
  layer_replication: (v) => v != null,
  use_qalora: (v) => v === true,
  target_parameters: (v) => v != null && !(Array.isArray(v) && v.length === 0),
  trainable_token_indices: (v) => v != null,
  alora_invocation_tokens: (v) => v != null,
  megatron_config: (v) => v != null,
};

/** Parses and checks an adapter_config.json into our LoraConfig. */
export function loraConfigFromPeft(json: Record<string, unknown>, source: string): LoraConfig {
  const type = json.peft_type;
  if (type !== 'LORA') {
    const close = typeof type === 'string' ? closeMatches(type.toUpperCase(), ['LORA']) : [];
    const known = KNOWN_PEFT_TYPES.includes(String(type)) ? ` ("${type}" is a PEFT method, but not one this plugin loads)` : '';
    throw new Error(`${source}: peft_type ${JSON.stringify(type)} is not supported${known}; @leantune/plugin-lora loads "LORA" adapters.${close.length ? ` Did you mean "${close[0]}"?` : ''}`);
  }
  for (const [field, isSet] of Object.entries(UNSUPPORTED_IF_SET)) {
    if (field in json && isSet(json[field])) throw new Error(`${source}: ${field} = ${JSON.stringify(json[field])} is not supported by @leantune/plugin-lora; only adapters with ${field} unset load`);
  }
  const cfg: Record<string, unknown> = {};
  for (const key of Object.keys(LORA_DEFAULTS)) if (key in json && json[key] !== null) cfg[key] = json[key];
  return { ...LORA_DEFAULTS, ...cfg } as LoraConfig;
}

export interface LoadAdapterOptions {
  adapterName?: string;
  /** PEFT's is_trainable: false (default) loads the adapter frozen, for inference. */
  isTrainable?: boolean;
}

/**
 * Loads a PEFT LoRA adapter folder onto `model` (PEFT's load_adapter). Everything is
 * checked first (config, targets, every key and shape), so a failure leaves the model as it
 * was. Loading never runs PiSSA on the base weights: A, B come from the file.
 */
export function loadAdapter(model: Module, dir: string, options: LoadAdapterOptions = {}): LoraConfig {
  const name = options.adapterName ?? 'default';
  const configFile = path.join(dir, ADAPTER_CONFIG_NAME);
  const weightsFile = path.join(dir, ADAPTER_WEIGHTS_NAME);
  for (const f of [configFile, weightsFile]) {
    if (!fs.existsSync(f)) throw new Error(`Cannot load LoRA adapter: ${f} does not exist (a PEFT adapter folder holds ${ADAPTER_CONFIG_NAME} and ${ADAPTER_WEIGHTS_NAME})`);
  }
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${configFile}: not valid JSON (${(err as Error).message})`);
  }
  const cfg = loraConfigFromPeft(json, configFile);
  let plan;
  try {
    plan = planLora(model, cfg, { adapterName: name, init: true });
  } catch (err) {
    throw new Error(`${configFile} does not fit this model: ${(err as Error).message}`, { cause: err });
  }
  const expected = new Map<string, number[]>();
  for (const t of plan.targets) {
    const { r, useDora } = t.settings;
    expected.set(`${KEY_PREFIX}${t.path}.lora_A.weight`, [r, t.module.inFeatures]);
    expected.set(`${KEY_PREFIX}${t.path}.lora_B.weight`, [t.module.outFeatures, r]);
    if (useDora) expected.set(`${KEY_PREFIX}${t.path}.lora_magnitude_vector`, [t.module.outFeatures]);
  }
  for (const p of plan.modulesToSave) {
    const wrapped = model.getSubmodule(p);
    const inner = wrapped instanceof ModulesToSaveWrapper ? wrapped.originalModule : wrapped;
    for (const [rel, param] of inner.namedParameters()) expected.set(`${KEY_PREFIX}${p}.${rel}`, param.shape);
  }
  const header = readSafetensorsHeader(weightsFile);
  const inFile = new Map([...header.tensors].map(([k, info]) => [k, info.shape]));
  const problems: string[] = [];
  // Hints pair each missing key with the unused file keys, and vice versa.
  const unused = [...inFile.keys()].filter((k) => !expected.has(k));
  const missing = [...expected.keys()].filter((k) => !inFile.has(k));
  for (const [key, shape] of expected) {
    const got = inFile.get(key);
    if (!got) problems.push(`missing tensor "${key}"${hint(key, unused)}`);
    else if (!tf.util.arraysEqual(got, shape)) problems.push(`tensor "${key}" has shape [${got}], the model needs [${shape}]`);
  }
  for (const key of unused) problems.push(`unexpected tensor "${key}"${hint(key, missing)}`);
  if (problems.length) {
    throw new Error(`${weightsFile} does not fit this model (adapter for another architecture or size?):\n- ${problems.slice(0, 12).join('\n- ')}${problems.length > 12 ? `\n- … ${problems.length - 12} more` : ''}`);
  }
  applyPlan(model, plan);
  const { tensors } = loadSafetensors(weightsFile);
  try {
    for (const [p, param] of model.namedParameters()) {
      const key = savedKeyFor(p, name);
      const value = key && tensors.get(key);
      if (value) tf.tidy(() => param.variable.assign(value.dtype === 'float32' ? value : tf.cast(value, 'float32')));
      if (key && !options.isTrainable) param.requiresGrad = false;
    }
  } finally {
    tf.dispose([...tensors.values()]);
  }
  return plan.config;
}

function hint(key: string, candidates: Iterable<string>): string {
  const close = closeMatches(key, candidates, 2);
  return close.length ? ` (closest: ${close.map((c) => `"${c}"`).join(', ')})` : '';
}
