import { requirePoints, type Disposer, type LoadedModel } from '@leantune/core';
import { Dropout, Module, tf, uniform } from '@leantune/tensor';
import {
  PROMPT_EMBEDDINGS_KEY,
  peftSaveOptionsOf,
  promptDims,
  promptHandle,
  promptLearningConfigJson,
  readPromptEmbeddings,
  readPromptFolder,
  writeAdapterFolder,
  type PromptHandle,
} from '@leantune/peft';
import { VPT_DEFAULTS, VPT_PEFT_TYPE, vptInitBound, type VptConfig } from './config';

export const PLUGIN_NAME = '@leantune/plugin-vpt';
/** The root's child that holds VPT's parameters (its path starts with the method's prefix). */
export const VPT_CHILD = 'vpt_prompts';

/**
 * VPT's prompts: one table `prompt_embeddings` [layers · n, dim], layer-major (rows
 * i·n … i·n + n − 1 are layer i's prompts; shallow has layer 0 only), and the prompt dropout.
 */
export class VptPrompts extends Module {
  constructor(
    init: tf.Tensor,
    readonly numPrompts: number,
    dropout: number,
  ) {
    super();
    this.addParameter('prompt_embeddings', init);
    this.addModule('dropout', new Dropout(dropout));
  }

  get table(): tf.Variable {
    return this.param('prompt_embeddings');
  }

  /** How many layers have prompts (1 shallow, every layer deep). */
  get layers(): number {
    return this.table.shape[0]! / this.numPrompts;
  }

  /** The whole table (the module is not called in a forward pass; the points read `prompts`). */
  forward(): tf.Tensor {
    return this.table;
  }

  /** Layer `layer`'s prompts [n, dim], through the prompt dropout while training. */
  prompts(layer: number, training: boolean): tf.Tensor {
    const table = this.table;
    const rows = this.layers === 1 ? table : tf.slice(table, [layer * this.numPrompts, 0], [this.numPrompts, -1]);
    const dropout = this.child<Dropout>('dropout')!;
    if (!training || dropout.p === 0) return rows;
    dropout.train(true);
    return dropout.forward(rows);
  }
}

/** Hidden states `h` [b, s, d] with positions offset … offset + n − 1 replaced by `prompts` [n, d] (VPT-deep). */
export function replacePrompts(h: tf.Tensor, prompts: tf.Tensor, offset: number): tf.Tensor {
  const n = prompts.shape[0]!;
  const [b, s] = h.shape as [number, number, number];
  if (s < offset + n) throw new Error(`vpt: a layer's input has ${s} positions, fewer than the ${offset} before the prompts and the ${n} prompts`);
  return tf.concat([tf.slice(h, [0, 0, 0], [-1, offset, -1]), tf.tile(tf.expandDims(prompts, 0), [b, 1, 1]), tf.slice(h, [0, offset + n, 0], [-1, -1, -1])], 1);
}

/** VPT's handle: the PEFT-style prompt handle of @leantune/peft, with VPT's registrations and files. */
export type VptHandle = PromptHandle<VptConfig> & { readonly parameters: VptPrompts };

/** adapter_config.json of a VPT adapter (see the README for every field). */
export function vptConfigJson(model: LoadedModel, config: VptConfig): Record<string, unknown> {
  const points = requirePoints(model, ['inputEmbeddings'], 'vpt');
  const dims = promptDims(model);
  const layers = config.mode === 'deep' ? points.hiddenStates!.layers : 1;
  return promptLearningConfigJson(VPT_PEFT_TYPE, config.num_prompts, dims, {
    mode: config.mode,
    num_prompt_layers: layers,
    prompt_dropout: config.dropout,
    prompt_init: 'xavier_uniform',
    patch_fan_in: points.inputEmbeddings!.patchFanIn ?? null,
    placement: points.inputEmbeddings!.placement,
  }, peftSaveOptionsOf(model));
}

/**
 * Attaches `prompts` to `model` as `vpt_prompts` and registers them: layer 0's after [CLS]
 * at the input embeddings (shallow and deep), and for deep, layer i's (i ≥ 1) at layer i's
 * entry in place of what layer i − 1 made at the prompt positions.
 */
export function vptHandle(model: LoadedModel, config: VptConfig, prompts: VptPrompts): VptHandle {
  const points = requirePoints(model, config.mode === 'deep' ? ['inputEmbeddings', 'hiddenStates'] : ['inputEmbeddings'], 'vpt');
  const input = points.inputEmbeddings!;
  const register = (): Disposer[] => {
    const off = [input.addVirtualTokens((_batch, training) => prompts.prompts(0, training))];
    try {
      for (let layer = 1; layer < prompts.layers; layer++) {
        off.push(points.hiddenStates!.atLayerEntry(layer, (h, i, training) => replacePrompts(h, prompts.prompts(i, training), input.offset)));
      }
    } catch (err) {
      for (const d of off) d();
      throw err;
    }
    return off;
  };
  return promptHandle({
    method: 'vpt',
    model,
    config,
    child: VPT_CHILD,
    module: prompts,
    register,
    save: (dir) => void writeAdapterFolder(dir, new Map([[PROMPT_EMBEDDINGS_KEY, prompts.table]]), vptConfigJson(model, config)),
  }) as VptHandle;
}

/** What the prompt table of `config` on `model` must be: [layers · n, dim]. */
export function vptShape(model: LoadedModel, config: VptConfig): [number, number] {
  const points = requirePoints(model, config.mode === 'deep' ? ['inputEmbeddings', 'hiddenStates'] : ['inputEmbeddings'], 'vpt');
  const layers = config.mode === 'deep' ? points.hiddenStates!.layers : 1;
  return [layers * config.num_prompts, points.inputEmbeddings!.dim];
}

/** Injects VPT with fresh prompts, uniform in ±sqrt(6 / (patch fan + dim)) as the paper initialises them. */
export function injectVpt(model: LoadedModel, config: VptConfig, seed?: number): VptHandle {
  const shape = vptShape(model, config);
  const bound = vptInitBound(shape[1], model.points!.inputEmbeddings!.patchFanIn, config.num_prompts);
  const init = uniform(shape, -bound, bound, seed);
  try {
    return vptHandle(model, config, new VptPrompts(init, config.num_prompts, config.dropout));
  } finally {
    init.dispose();
  }
}

/** Loads a VPT adapter folder onto `model`; config and shapes are checked before the model changes. */
export function loadVpt(model: LoadedModel, dir: string): VptHandle {
  const dim = requirePoints(model, ['inputEmbeddings'], 'vpt').inputEmbeddings!.dim;
  const folder = readPromptFolder(dir, VPT_PEFT_TYPE, PLUGIN_NAME, dim);
  const { json } = folder;
  if (json.mode !== 'shallow' && json.mode !== 'deep') throw new Error(`${folder.configFile}: mode must be "shallow" or "deep", got ${JSON.stringify(json.mode)}`);
  const dropout = json.prompt_dropout ?? VPT_DEFAULTS.dropout;
  if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1)) throw new Error(`${folder.configFile}: prompt_dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  const config: VptConfig = { ...VPT_DEFAULTS, mode: json.mode, num_prompts: folder.numVirtualTokens, dropout };
  const shape = vptShape(model, config);
  if (json.num_prompt_layers != null && json.num_prompt_layers !== shape[0] / config.num_prompts) {
    throw new Error(`${folder.configFile} does not fit this model: num_prompt_layers ${JSON.stringify(json.num_prompt_layers)}, the model has ${shape[0] / config.num_prompts} ${config.mode === 'deep' ? 'layers' : 'input layer'} (an adapter for another base model?)`);
  }
  const saved = readPromptEmbeddings(folder, shape);
  try {
    const prompts = new VptPrompts(saved, config.num_prompts, config.dropout);
    return vptHandle(model, config, prompts);
  } finally {
    saved.dispose();
  }
}
