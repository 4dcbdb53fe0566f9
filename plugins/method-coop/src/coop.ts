import { requirePoints, type LoadedModel, type TextTokenEmbeddingsPoint } from '@leantune/core';
import { Module, normal, tf } from '@leantune/tensor';
import {
  PROMPT_EMBEDDINGS_KEY,
  peftSaveOptionsOf,
  promptHandle,
  promptLearningConfigJson,
  readPromptEmbeddings,
  readPromptFolder,
  writeAdapterFolder,
  type PromptHandle,
} from '@leantune/peft';
import { COOP_DEFAULTS, COOP_INIT_STD, COOP_PEFT_TYPE, type CoopConfig } from './config';

export const PLUGIN_NAME = '@leantune/plugin-coop';
/** The root's child that holds CoOp's context (its path starts with the method's prefix). */
export const COOP_CHILD = 'coop_prompt';

/** CoOp's learned context: `ctx` [n, dim] shared, or [classes, n, dim] class-specific (CSC). */
export class CoopContext extends Module {
  constructor(init: tf.Tensor) {
    super();
    this.addParameter('ctx', init);
  }
  get ctx(): tf.Variable {
    return this.param('ctx');
  }
  forward(): tf.Tensor {
    return this.ctx;
  }
}

export type CoopHandle = PromptHandle<CoopConfig> & { readonly parameters: CoopContext };

/** Token ids of `text` without the tokenizer's special tokens (SOS/EOS): what stands between them for "". */
export function textTokenIds(model: LoadedModel, text: string): number[] {
  const tok = requirePoints(model, ['tokenizer'], 'coop').tokenizer!;
  const empty = tok.encode('');
  const ids = tok.encode(text);
  let lead = 0;
  while (lead < empty.length && empty[lead] === ids[lead]) lead++;
  return ids.slice(lead, ids.length - (empty.length - lead));
}

function labelsOf(model: LoadedModel, why: string): string[] {
  if (!model.labels?.length) throw new Error(`coop: model "${model.name}" has no class names (${why}); give the model labels (model.labels, or a dataset with labels)`);
  return model.labels;
}

/**
 * The context CoOp starts from: the token embeddings of `ctx_init` (n_ctx = its tokens; the
 * same for every class with csc), else N(0, 0.02) [n_ctx, dim] or [classes, n_ctx, dim].
 * Returns the tensor and the config with n_ctx resolved.
 */
export function initialContext(model: LoadedModel, config: CoopConfig, seed?: number): { init: tf.Tensor; config: CoopConfig } {
  const point = requirePoints(model, ['textTokenEmbeddings'], 'coop').textTokenEmbeddings!;
  const classes = config.csc ? labelsOf(model, 'csc makes one context per class').length : 0;
  if (config.ctx_init != null) {
    const ids = textTokenIds(model, config.ctx_init);
    if (!ids.length) throw new Error(`coop: ctx_init ${JSON.stringify(config.ctx_init)} tokenises to no tokens`);
    const words = point.vocabulary.embed(ids);
    const init = config.csc ? tf.tidy(() => tf.tile(tf.expandDims(words, 0), [classes, 1, 1])) : words;
    if (init !== words) words.dispose();
    return { init, config: { ...config, n_ctx: ids.length } };
  }
  const shape = config.csc ? [classes, config.n_ctx, point.dim] : [config.n_ctx, point.dim];
  return { init: normal(shape, COOP_INIT_STD, 0, seed), config };
}

/** adapter_config.json of a CoOp adapter (see the README for every field). */
export function coopConfigJson(model: LoadedModel, config: CoopConfig, point: TextTokenEmbeddingsPoint): Record<string, unknown> {
  return promptLearningConfigJson(COOP_PEFT_TYPE, config.n_ctx, { token_dim: point.dim, num_layers: null, num_attention_heads: null }, {
    n_ctx: config.n_ctx,
    ctx_init: config.ctx_init,
    csc: config.csc,
    class_token_position: config.class_token_position,
    frozen: config.frozen,
    class_names: model.labels ?? null,
  }, peftSaveOptionsOf(model));
}

/**
 * Attaches `context` as `coop_prompt.ctx` and makes the model's own label prompts (its loss
 * and predict) use it: the prompt of class c is [SOS] ctx [name] . [EOS] (or the name in the
 * middle or at the front). With `frozen`, nothing trains.
 */
export function coopHandle(model: LoadedModel, config: CoopConfig, context: CoopContext): CoopHandle {
  const point = requirePoints(model, ['textTokenEmbeddings'], 'coop').textTokenEmbeddings!;
  if (config.frozen) context.freeze();
  const handle = promptHandle({
    method: 'coop',
    model,
    config,
    child: COOP_CHILD,
    module: context,
    register: () => [point.setLabelContext(() => context.ctx, { classPosition: config.class_token_position })],
    save: (dir) => {
      const ctx = context.ctx;
      // PEFT's prompt_embeddings is 2-D: CSC's [classes, n, dim] is saved class-major as [classes · n, dim].
      const table = ctx.rank === 3 ? tf.reshape(ctx, [-1, ctx.shape[2]!]) : ctx;
      try {
        writeAdapterFolder(dir, new Map([[PROMPT_EMBEDDINGS_KEY, table]]), coopConfigJson(model, config, point));
      } finally {
        if (table !== ctx) table.dispose();
      }
    },
  }) as CoopHandle;
  return {
    ...handle,
    trains: config.frozen ? () => false : handle.trains,
    notMergeable: 'method "coop" is a prompt method: its learned context joins every class prompt of the text encoder, and there is no weight to fold it into. Load it as an adapter instead.',
  };
}

/** Injects CoOp: a context from ctx_init or random, on the model's label prompts. */
export function injectCoop(model: LoadedModel, config: CoopConfig, seed?: number): CoopHandle {
  requirePoints(model, config.ctx_init != null ? ['textTokenEmbeddings', 'tokenizer'] : ['textTokenEmbeddings'], 'coop');
  labelsOf(model, 'CoOp classifies over them');
  const { init, config: resolved } = initialContext(model, config, seed);
  try {
    return coopHandle(model, resolved, new CoopContext(init));
  } finally {
    init.dispose();
  }
}

/** Loads a CoOp adapter folder onto `model`; config, class names and shapes are checked before the model changes. */
export function loadCoop(model: LoadedModel, dir: string): CoopHandle {
  const point = requirePoints(model, ['textTokenEmbeddings'], 'coop').textTokenEmbeddings!;
  const folder = readPromptFolder(dir, COOP_PEFT_TYPE, PLUGIN_NAME, point.dim);
  const { json, configFile } = folder;
  const labels = labelsOf(model, 'CoOp classifies over them');
  const position = json.class_token_position ?? 'end';
  if (!['end', 'middle', 'front'].includes(position as string)) throw new Error(`${configFile}: class_token_position must be end, middle or front, got ${JSON.stringify(position)}`);
  const csc = json.csc === true;
  const saved = json.class_names;
  if (csc && !(Array.isArray(saved) && saved.length === labels.length && saved.every((c, i) => c === labels[i]))) {
    throw new Error(`${configFile} does not fit this model: its class-specific contexts are for classes ${JSON.stringify(saved)}, the model's labels are ${JSON.stringify(labels)} (same names, same order)`);
  }
  const config: CoopConfig = {
    ...COOP_DEFAULTS,
    n_ctx: folder.numVirtualTokens,
    ctx_init: typeof json.ctx_init === 'string' ? json.ctx_init : null,
    csc,
    class_token_position: position as CoopConfig['class_token_position'],
    frozen: json.frozen === true,
  };
  const n = folder.numVirtualTokens;
  const table = readPromptEmbeddings(folder, [csc ? labels.length * n : n, point.dim]);
  const init = csc ? tf.reshape(table, [labels.length, n, point.dim]) : table;
  try {
    return coopHandle(model, config, new CoopContext(init));
  } finally {
    table.dispose();
    if (init !== table) init.dispose();
  }
}
