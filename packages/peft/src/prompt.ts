import { definePlugin, type Disposer, type JSONSchema, type LoadedModel, type MethodDefinition, type MethodHandle } from '@leantune/core';
import { loadSafetensors, Module, tf } from '@leantune/tensor';
import { adapterFolderFiles, doesNotFitError, peftConfigHeader, peftTypeIn, readJsonConfig, safetensorsShapes, tensorFitProblems, type PeftSaveOptions } from './adapter-files';

/**
 * What PEFT's prompt-learning methods (PROMPT_TUNING, P_TUNING, PREFIX_TUNING) share: the
 * PromptLearningConfig fields, the one saved tensor `prompt_embeddings`, and a handle that
 * keeps its parameters in one child module of the model's root and its registrations on the
 * model's extension points. Each method plugin adds only its own fields and computation.
 */
export const PROMPT_EMBEDDINGS_KEY = 'prompt_embeddings';

/** The JSON Schema properties every prompt-learning method's config has (PEFT's names). */
export const promptLearningSchemaFields = {
  num_virtual_tokens: { type: 'integer', minimum: 1, maximum: 4096, default: 20, description: 'Virtual tokens (prompt length)' },
  modules_to_save: { type: 'null', default: null, description: 'not supported (train a head with the run\'s "trainable" patterns)' },
} as const;

/** PromptLearningConfig's model-derived fields, read from the model's extension points. */
export interface PromptDims {
  token_dim: number;
  num_layers: number | null;
  num_attention_heads: number | null;
}

export function promptDims(model: LoadedModel): PromptDims {
  const points = model.points ?? {};
  const prefix = points.attentionPrefix;
  return {
    token_dim: points.inputEmbeddings?.dim ?? (prefix ? prefix.shape(0).heads * prefix.shape(0).headDim : 0),
    num_layers: points.hiddenStates?.layers ?? prefix?.layers ?? null,
    num_attention_heads: prefix ? prefix.shape(0).heads : null,
  };
}

/** Refuses `n` virtual tokens that leave no position for text in `model`. */
export function checkVirtualTokenCount(model: LoadedModel, n: number, method: string): void {
  const max = model.points?.inputEmbeddings?.maxPositions;
  if (max !== undefined && n >= max) {
    throw new Error(`${method}: num_virtual_tokens ${n} leaves no room for text in model "${model.name}", whose position embeddings allow ${max} tokens in all; use fewer virtual tokens`);
  }
}

/** base_model_name_or_path and task_type of `model`, for peftConfigHeader. */
export function peftSaveOptionsOf(model: LoadedModel): PeftSaveOptions {
  return { baseModelNameOrPath: model.name, taskType: model.taskType ?? null };
}

/**
 * adapter_config.json of a prompt-learning method: PeftConfig's header, PromptLearningConfig's
 * fields (num_transformer_submodules 1: decoder-only or encoder-only models) and `own`.
 */
export function promptLearningConfigJson(peftType: string, numVirtualTokens: number, dims: PromptDims, own: Record<string, unknown>, options: PeftSaveOptions = {}): Record<string, unknown> {
  return {
    ...peftConfigHeader(peftType, options),
    num_virtual_tokens: numVirtualTokens,
    token_dim: dims.token_dim,
    num_transformer_submodules: 1,
    num_attention_heads: dims.num_attention_heads,
    num_layers: dims.num_layers,
    modules_to_save: null,
    ...own,
  };
}

/** A saved prompt-learning folder, checked against the method's peft_type and the model. */
export interface PromptFolder {
  configFile: string;
  weightsFile: string;
  json: Record<string, unknown>;
  numVirtualTokens: number;
}

/**
 * Reads adapter_config.json of `dir` for `peftType`, refusing what leantune cannot load:
 * another peft_type, num_transformer_submodules 2 (encoder-decoder models), a token_dim
 * other than the model's `tokenDim`.
 */
export function readPromptFolder(dir: string, peftType: string, plugin: string, tokenDim?: number): PromptFolder {
  const { configFile, weightsFile } = adapterFolderFiles(dir, `${peftType} adapter`);
  const json = readJsonConfig(configFile);
  if (json.peft_type !== peftType) throw new Error(`${configFile}: peft_type ${JSON.stringify(json.peft_type)} is not supported; ${plugin} loads "${peftType}" adapters`);
  const n = json.num_virtual_tokens;
  if (!Number.isInteger(n) || (n as number) < 1) throw new Error(`${configFile}: num_virtual_tokens must be a positive integer, got ${JSON.stringify(n)}`);
  const sub = json.num_transformer_submodules;
  if (sub != null && sub !== 1) {
    throw new Error(`${configFile}: num_transformer_submodules ${JSON.stringify(sub)} is not supported: 2 is for encoder-decoder (SEQ_2_SEQ_LM) models, and leantune's prompt methods support encoder-only and decoder-only ones (1)`);
  }
  if (json.modules_to_save != null) throw new Error(`${configFile}: modules_to_save = ${JSON.stringify(json.modules_to_save)} is not supported by ${plugin}`);
  if (tokenDim !== undefined && json.token_dim != null && json.token_dim !== tokenDim) {
    throw new Error(`${configFile} does not fit this model: token_dim ${JSON.stringify(json.token_dim)}, the model's embeddings are ${tokenDim} wide (an adapter for another base model?)`);
  }
  return { configFile, weightsFile, json, numVirtualTokens: n as number };
}

/** `prompt_embeddings` of the folder's weights, checked to be `shape` before it is read; the caller disposes it. */
export function readPromptEmbeddings(folder: PromptFolder, shape: readonly number[]): tf.Tensor {
  const problems = tensorFitProblems(new Map([[PROMPT_EMBEDDINGS_KEY, shape]]), safetensorsShapes(folder.weightsFile));
  if (problems.length) throw doesNotFitError(folder.weightsFile, problems);
  const { tensors } = loadSafetensors(folder.weightsFile);
  const value = tensors.get(PROMPT_EMBEDDINGS_KEY)!;
  for (const [k, t] of tensors) if (k !== PROMPT_EMBEDDINGS_KEY) t.dispose();
  if (value.dtype === 'float32') return value;
  const cast = tf.cast(value, 'float32');
  value.dispose();
  return cast;
}

/** Runs `use` with the folder's `prompt_embeddings` (checked to be `shape`), freeing them afterwards. */
export function withPromptEmbeddings<T>(folder: PromptFolder, shape: readonly number[], use: (saved: tf.Tensor) => T): T {
  const saved = readPromptEmbeddings(folder, shape);
  try {
    return use(saved);
  } finally {
    saved.dispose();
  }
}

/** PEFT's TEXT init: the text's ids cut to `n`, or repeated until they reach `n` and then cut. */
export function textInitIds(ids: readonly number[], n: number): number[] {
  if (!ids.length) throw new Error('prompt_tuning_init_text tokenises to no tokens; give some text');
  const reps = Math.ceil(n / ids.length);
  return Array.from({ length: reps }, () => ids).flat().slice(0, n);
}

/** `n` token ids drawn uniformly from [0, size) with `seed` (PEFT's SAMPLE_VOCAB draws with numpy's randint). */
export function sampleVocabIds(size: number, n: number, seed: number): number[] {
  let state = seed >>> 0 || 1;
  return Array.from({ length: n }, () => {
    // xorshift32: a deterministic stream per seed.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % size;
  });
}

/** One learned table [rows, width], named as PEFT's `embedding.weight`. */
export class PromptTable extends Module {
  constructor(init: tf.Tensor) {
    super();
    this.addParameter('weight', init);
  }
  get weight(): tf.Variable {
    return this.param('weight');
  }
  forward(): tf.Tensor {
    return this.param('weight');
  }
}

export interface PromptHandleSpec<C> {
  /** The method id, for messages. */
  method: string;
  model: LoadedModel;
  config: C;
  /** Name of the root's child that holds the method's parameters (starts with the method's prefix). */
  child: string;
  module: Module;
  /** Registers the method on the model's points; returns the disposers (called by disable and unload). */
  register(): Disposer[];
  /** Writes the method's PEFT folder. */
  save(dir: string): void;
}

export type PromptHandle<C> = MethodHandle<C> & { readonly parameters: Module };

/**
 * The handle of a prompt-learning method: its parameters are the root's child `child`,
 * trained by path; disable/enable take its registrations off the model and put them back;
 * unload removes and frees them. Prompts never fold into weights (`notMergeable`).
 */
export function promptHandle<C>(spec: PromptHandleSpec<C>): PromptHandle<C> {
  const root = spec.model.module;
  if (root.child(spec.child)) throw new Error(`${spec.method}: the model already holds "${spec.child}"; unload the other ${spec.method} first`);
  root.addModule(spec.child, spec.module);
  let disposers: Disposer[] = [];
  try {
    disposers = spec.register();
  } catch (err) {
    root.removeModule(spec.child);
    throw err;
  }
  const off = () => {
    for (const d of disposers) d();
    disposers = [];
  };
  const lead = `${spec.child}.`;
  return {
    config: spec.config,
    parameters: spec.module,
    trains: (path) => path.startsWith(lead),
    save: (dir) => spec.save(dir),
    disable: off,
    enable() {
      if (!disposers.length) disposers = spec.register();
    },
    unload() {
      off();
      root.removeModule(spec.child)?.dispose();
      return root;
    },
    notMergeable: `method "${spec.method}" is a prompt method: its learned ${spec.method === 'prefix-tuning' ? 'key/value prefixes join every attention' : 'tokens join every input'}, and there is no weight to fold them into. Load it as an adapter instead.`,
  };
}

/** What a prompt-learning plugin registers: one method of family "prompt" that recognises its PEFT folders. */
export interface PromptMethodPluginSpec<C> {
  plugin: string;
  pluginDescription: string;
  id: string;
  prefix: string;
  peftType: string;
  description: string;
  configSchema: JSONSchema;
  requires: readonly string[];
  inject: MethodDefinition<C>['inject'];
  load: NonNullable<MethodDefinition<C>['load']>;
}

export function promptMethodPlugin<C>(spec: PromptMethodPluginSpec<C>) {
  return definePlugin({
    meta: { name: spec.plugin, version: '0.1.0', core: '^0.1.0', description: spec.pluginDescription },
    apply(ctx) {
      ctx.methods.register<C>({
        id: spec.id,
        prefix: spec.prefix,
        family: 'prompt',
        description: spec.description,
        configSchema: spec.configSchema,
        requires: spec.requires,
        inject: spec.inject,
        load: spec.load,
        recognizes: (dir) => peftTypeIn(dir) === spec.peftType,
      });
    },
  });
}
