import path from 'node:path';
import { closeMatches } from '@leantune/core';
import { adapterFolderFiles, assignFloat32, doesNotFitError, PEFT_KEY_PREFIX as KEY_PREFIX, peftConfigHeader, type PeftSaveOptions, planForConfig, readJsonConfig, safetensorsShapes, tensorFitProblems, withSafetensors, writeAdapterFolder } from '@leantune/peft';
import { Conv2d, Embedding, type Module, type tf } from '@leantune/tensor';
import { LORA_DEFAULTS, type LoraConfig } from './config';
import { LoraConv2d, LoraEmbedding } from './lora-embedding-conv';
import { loraDims, LoraModel, type PlannedTarget } from './model';
import { ModulesToSaveWrapper } from './modules-to-save';

export { ADAPTER_CONFIG_NAME, ADAPTER_WEIGHTS_NAME, PEFT_KEY_PREFIX as KEY_PREFIX } from '@leantune/peft';

const KNOWN_PEFT_TYPES = ['LORA', 'ADALORA', 'LOHA', 'LOKR', 'IA3', 'BOFT', 'OFT', 'VERA', 'PROMPT_TUNING', 'PREFIX_TUNING', 'P_TUNING', 'ADAPTION_PROMPT', 'LN_TUNING'];

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

export interface SaveAdapterOptions extends PeftSaveOptions {
  adapterName?: string;
}

/**
 * adapter_config.json as PEFT 0.18.0's LoraConfig.to_dict writes it: every field of the
 * dataclass (runtime_config dropped, as to_dict does), those we do not implement at their
 * defaults; target_modules as written (a list as a sorted set), "all-linear" as the resolved
 * paths (PEFT 0.18.0's _maybe_include_all_linear_layers), unset as the architecture's names.
 */
export function peftConfigJson(cfg: LoraConfig, options: SaveAdapterOptions = {}): Record<string, unknown> {
  return {
    ...peftConfigHeader('LORA', options),
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
    trainable_token_indices: null,
    eva_config: null,
    corda_config: null,
    alora_invocation_tokens: null,
    use_qalora: false,
    qalora_group_size: 16,
    target_parameters: null,
    arrow_config: null,
    ensure_weight_tying: false,
  };
}

/**
 * Writes adapter_config.json + adapter_model.safetensors (metadata {"format": "pt"}) as
 * PEFT's save_pretrained does; a non-default adapter goes into the subfolder named after it.
 * Returns the folder written.
 */
export function saveAdapter(lora: LoraModel, dir: string, options: SaveAdapterOptions = {}): string {
  const name = options.adapterName ?? 'default';
  const cfg = lora.adapterConfig(name);
  const out = name === 'default' ? dir : path.join(dir, name);
  return writeAdapterFolder(out, adapterStateDict(lora.model, name), peftConfigJson(cfg, options));
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
  arrow_config: (v) => v != null,
  ensure_weight_tying: (v) => v === true,
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

/**
 * The tensors PEFT saves for one target, by key suffix, with their shapes: Linear/Conv1D
 * `lora_A.weight` [r, in], `lora_B.weight` [out, r] (+ DoRA's `lora_magnitude_vector` [out]);
 * Embedding `lora_embedding_A` [r, num_embeddings], `lora_embedding_B` [embedding_dim, r];
 * Conv2d `lora_A.weight` [r, in, kh, kw], `lora_B.weight` [out, r, 1, 1].
 */
export function savedAdapterShapes(t: PlannedTarget): Array<[string, number[]]> {
  const { r, useDora } = t.settings;
  const { inFeatures, outFeatures } = loraDims(t.module);
  const base = t.module instanceof LoraConv2d || t.module instanceof LoraEmbedding ? t.module.baseLayer : t.module;
  if (base instanceof Embedding) return [['lora_embedding_A', [r, inFeatures]], ['lora_embedding_B', [outFeatures, r]]];
  if (base instanceof Conv2d) return [['lora_A.weight', [r, inFeatures, ...base.kernelSize]], ['lora_B.weight', [outFeatures, r, 1, 1]]];
  const shapes: Array<[string, number[]]> = [['lora_A.weight', [r, inFeatures]], ['lora_B.weight', [outFeatures, r]]];
  if (useDora) shapes.push(['lora_magnitude_vector', [outFeatures]]);
  return shapes;
}

/**
 * PEFT's get_peft_model_state_dict with save_embedding_layers="auto" also saves the whole table
 * of a targeted layer named as one of its EMBEDDING_LAYER_NAMES (`embed_tokens`, `lm_head`):
 * `<path>.base_layer.weight`. Such a key, present with the base layer's shape, is loaded into the
 * base layer as PEFT's load_state_dict does (for a tied lm_head, that is the head's table too).
 */
const EMBEDDING_LAYER_NAMES = ['embed_tokens', 'lm_head'];

function savedEmbeddingTables(targets: readonly PlannedTarget[], inFile: Map<string, number[]>): Array<{ key: string; variable: tf.Variable }> {
  return targets
    .filter((t) => EMBEDDING_LAYER_NAMES.includes(t.path.split('.').pop()!) && inFile.has(`${KEY_PREFIX}${t.path}.base_layer.weight`))
    // The base layer LoRA wraps (already wrapped when another adapter is loaded) keeps its variables.
    .map((t) => ({ key: `${KEY_PREFIX}${t.path}.base_layer.weight`, variable: (t.module.child('base_layer') ?? t.module).getParameter('weight').variable }));
}

export interface LoadAdapterOptions {
  adapterName?: string;
  /** PEFT's is_trainable: false (default) loads the adapter frozen, for inference. */
  isTrainable?: boolean;
}

/**
 * True for inits that change the base weight (PEFT's data-dependent inits: "pissa",
 * "pissa_niter_<n>"). PEFT's from_pretrained / load_adapter runs them again on load, so the
 * base becomes the residual W − s·B₀A₀ before the trained A and B are read from the file.
 */
export function rewritesBase(init: boolean | string): init is string {
  return typeof init === 'string' && /^pissa(_niter_\d+)?$/.test(init);
}

/**
 * Loads a PEFT LoRA adapter folder onto `model` (PEFT's load_adapter). Everything is
 * checked first (config, targets, every key and shape), so a failure leaves the model as it
 * was. As PEFT's from_pretrained: a PiSSA adapter first turns each target's base weight into
 * the residual (pissa_init on the base as it is), then A and B come from the file; any other
 * init is skipped (A and B are overwritten anyway).
 */
export function loadAdapter(target: Module | LoraModel, dir: string, options: LoadAdapterOptions = {}): LoraModel {
  const lora = target instanceof LoraModel ? target : new LoraModel(target);
  const model = lora.model;
  const name = options.adapterName ?? 'default';
  const { configFile, weightsFile } = adapterFolderFiles(dir, 'LoRA adapter');
  const cfg = loraConfigFromPeft(readJsonConfig(configFile), configFile);
  const plan = planForConfig(configFile, () => lora.plan(cfg, { adapterName: name, init: rewritesBase(cfg.init_lora_weights) ? cfg.init_lora_weights : true }));
  const expected = new Map<string, number[]>();
  for (const t of plan.targets) for (const [key, shape] of savedAdapterShapes(t)) expected.set(`${KEY_PREFIX}${t.path}.${key}`, shape);
  for (const p of plan.modulesToSave) {
    const wrapped = model.getSubmodule(p);
    const inner = wrapped instanceof ModulesToSaveWrapper ? wrapped.originalModule : wrapped;
    for (const [rel, param] of inner.namedParameters()) expected.set(`${KEY_PREFIX}${p}.${rel}`, param.shape);
  }
  const inFile = safetensorsShapes(weightsFile);
  const tables = savedEmbeddingTables(plan.targets, inFile);
  for (const { key, variable } of tables) expected.set(key, variable.shape);
  const problems = tensorFitProblems(expected, inFile);
  if (problems.length) throw doesNotFitError(weightsFile, problems, { note: 'adapter for another architecture or size?', countRest: true });
  lora.apply(plan);
  withSafetensors(weightsFile, (tensors) => {
    for (const { key, variable } of tables) assignFloat32(variable, tensors.get(key)!);
    for (const [p, param] of model.namedParameters()) {
      const key = savedKeyFor(p, name);
      const value = key && tensors.get(key);
      if (value) assignFloat32(param.variable, value);
      if (key && !options.isTrainable) param.requiresGrad = false;
    }
  });
  return lora;
}
