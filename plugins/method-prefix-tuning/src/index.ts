import { requirePoints, type AttentionPrefixPoint, type JSONSchema, type LoadedModel } from '@leantune/core';
import {
  peftSaveOptionsOf,
  promptDims,
  promptHandle,
  promptLearningConfigJson,
  promptLearningSchemaFields,
  PROMPT_EMBEDDINGS_KEY,
  PromptTable,
  promptMethodPlugin,
  readPromptFolder,
  withPromptEmbeddings,
  writeAdapterFolder,
  type PromptHandle,
} from '@leantune/peft';
import { Activation, Linear, Module, normal, Sequential, tf } from '@leantune/tensor';

export const PLUGIN_NAME = '@leantune/plugin-prefix-tuning';
export const METHOD_ID = 'prefix-tuning';
export const PEFT_TYPE = 'PREFIX_TUNING';
/** The root's child holding the prefix encoder: `prefix_tuning_encoder.embedding.weight` (and `.transform.*` with prefix_projection). */
export const PREFIX_TUNING_CHILD = 'prefix_tuning_encoder';

/** `methods.prefix-tuning`, with PEFT's PrefixTuningConfig field names. */
export interface PrefixTuningConfig {
  num_virtual_tokens: number;
  prefix_projection: boolean;
  encoder_hidden_size: number | null;
  init_weights: 'zero' | null;
  modules_to_save: null;
}

export const prefixTuningConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...promptLearningSchemaFields,
    prefix_projection: { type: 'boolean', default: false, description: 'Train the prefixes through a two-layer tanh MLP (folded into plain prefixes at save)' },
    encoder_hidden_size: { type: ['integer', 'null'], minimum: 1, maximum: 65536, default: null, description: 'Hidden width of the projection MLP; null: token_dim (PEFT\'s default)' },
    init_weights: { enum: ['zero', null], default: null, description: 'null: N(0, 1) (PEFT\'s nn.Embedding); "zero": all-zero prefixes (the projection\'s last layer zeroed)' },
  },
} as const satisfies JSONSchema;

/** Where layer i's keys and values sit in a prefix row: PEFT's [num_layers * 2, heads, headDim] flattening. */
export interface PrefixLayout {
  layers: Array<{ heads: number; headDim: number; key: number; value: number; width: number }>;
  /** Width of one row of prompt_embeddings (num_layers * 2 * token_dim when every layer has the same width). */
  width: number;
  /** token_dim as written: the layers' common attention width (the embeddings' width when the layers differ). */
  tokenDim: number;
}

export function prefixLayout(point: AttentionPrefixPoint, embeddingDim?: number): PrefixLayout {
  let offset = 0;
  const layers = Array.from({ length: point.layers }, (_, i) => {
    const { heads, headDim } = point.shape(i);
    const width = heads * headDim;
    const entry = { heads, headDim, key: offset, value: offset + width, width };
    offset += 2 * width;
    return entry;
  });
  const uniform = layers.every((l) => l.width === layers[0].width);
  return { layers, width: offset, tokenDim: uniform ? layers[0].width : (embeddingDim ?? layers[0].width) };
}

/** PEFT's PrefixEncoder: the prefixes themselves, or (prefix_projection) an embedding through Linear → tanh → Linear. */
export class PrefixEncoder extends Module {
  constructor(
    readonly layout: PrefixLayout,
    numVirtualTokens: number,
    options: { projection?: { hidden: number }; zero?: boolean; init?: tf.Tensor },
  ) {
    super();
    const { projection, zero, init } = options;
    tf.tidy(() => {
      if (init) this.addModule('embedding', new PromptTable(init));
      else if (projection) this.addModule('embedding', new PromptTable(normal([numVirtualTokens, layout.tokenDim], 1)));
      else this.addModule('embedding', new PromptTable(zero ? tf.zeros([numVirtualTokens, layout.width]) : normal([numVirtualTokens, layout.width], 1)));
    });
    if (projection && !init) {
      // PEFT's names: transform.0 (Linear), transform.1 (Tanh), transform.2 (Linear).
      const last = new Linear(projection.hidden, layout.width);
      this.addModule('transform', new Sequential(new Linear(layout.tokenDim, projection.hidden), new Activation('tanh'), last));
      if (zero) tf.tidy(() => [last.weight, last.bias!].forEach((v) => v.assign(tf.zerosLike(v))));
    }
  }

  get projected(): boolean {
    return !!this.child('transform');
  }

  /** Columns [from, from + width) of the prefix rows [n, width]. */
  columns(from: number, width: number): tf.Tensor2D {
    const embedding = this.child<PromptTable>('embedding')!.weight;
    if (!this.projected) return tf.slice(embedding, [0, from], [-1, width]) as tf.Tensor2D;
    const transform = this.child<Sequential>('transform')!;
    const hidden = tf.tanh((transform.at(0) as Linear).forward(embedding));
    const last = transform.at(2) as Linear;
    const w = tf.slice(last.weight, [from, 0], [width, -1]);
    const b = tf.slice(last.bias!, [from], [width]);
    return tf.add(tf.matMul(hidden, w, false, true), b) as tf.Tensor2D;
  }

  /** Layer i's key and value prefixes [heads, n, headDim]. */
  layer(i: number): { key: tf.Tensor; value: tf.Tensor } {
    const l = this.layout.layers[i];
    const part = (from: number) => tf.transpose(tf.reshape(this.columns(from, l.width), [-1, l.heads, l.headDim]), [1, 0, 2]);
    return { key: part(l.key), value: part(l.value) };
  }

  /** The prefixes as PEFT saves them: [n, width] (the projection applied, in eval). */
  folded(): tf.Tensor2D {
    return tf.tidy(() => this.columns(0, this.layout.width));
  }

  forward(): tf.Tensor {
    return this.folded();
  }
}

export type PrefixTuningHandle = PromptHandle<PrefixTuningConfig> & { readonly encoder: PrefixEncoder };

/** adapter_config.json as PEFT's PrefixTuningConfig writes it. */
export function peftPrefixTuningConfigJson(model: LoadedModel, config: PrefixTuningConfig, layout: PrefixLayout): Record<string, unknown> {
  return promptLearningConfigJson(
    PEFT_TYPE,
    config.num_virtual_tokens,
    { ...promptDims(model), token_dim: layout.tokenDim },
    { encoder_hidden_size: config.encoder_hidden_size ?? layout.tokenDim, prefix_projection: config.prefix_projection, init_weights: config.init_weights },
    peftSaveOptionsOf(model),
  );
}

function attach(model: LoadedModel, config: PrefixTuningConfig, encoder: PrefixEncoder): PrefixTuningHandle {
  const point = model.points!.attentionPrefix!;
  const handle = promptHandle({
    method: METHOD_ID,
    model,
    config,
    child: PREFIX_TUNING_CHILD,
    module: encoder,
    register: () => encoder.layout.layers.map((_, i) => point.addPrefix(i, () => encoder.layer(i))),
    save(dir) {
      const folded = encoder.folded();
      try {
        writeAdapterFolder(dir, new Map([[PROMPT_EMBEDDINGS_KEY, folded]]), peftPrefixTuningConfigJson(model, config, encoder.layout));
      } finally {
        folded.dispose();
      }
    },
  });
  return Object.assign(handle, { encoder });
}

function layoutOf(model: LoadedModel): PrefixLayout {
  const points = requirePoints(model, ['attentionPrefix'], METHOD_ID);
  return prefixLayout(points.attentionPrefix!, points.inputEmbeddings?.dim);
}

export function injectPrefixTuning(model: LoadedModel, config: PrefixTuningConfig): PrefixTuningHandle {
  const layout = layoutOf(model);
  const resolved: PrefixTuningConfig = { ...config, encoder_hidden_size: config.encoder_hidden_size ?? layout.tokenDim };
  const projection = config.prefix_projection ? { hidden: resolved.encoder_hidden_size! } : undefined;
  const encoder = new PrefixEncoder(layout, config.num_virtual_tokens, { projection, zero: config.init_weights === 'zero' });
  try {
    return attach(model, resolved, encoder);
  } catch (err) {
    encoder.dispose();
    throw err;
  }
}

/**
 * Loads a PEFT PREFIX_TUNING folder: `prompt_embeddings` [num_virtual_tokens, num_layers * 2 *
 * token_dim] become the prefixes (a projection was folded at save, as PEFT's inference mode
 * reads it), frozen unless asked.
 */
export function loadPrefixTuning(model: LoadedModel, dir: string, options: { isTrainable?: boolean } = {}): PrefixTuningHandle {
  const layout = layoutOf(model);
  const folder = readPromptFolder(dir, PEFT_TYPE, PLUGIN_NAME, layout.tokenDim);
  const { json } = folder;
  const points = model.points!.attentionPrefix!;
  for (const [field, want] of [['num_layers', points.layers], ['num_attention_heads', layout.layers[0].heads]] as const) {
    if (json[field] != null && json[field] !== want) throw new Error(`${folder.configFile} does not fit this model: ${field} ${JSON.stringify(json[field])}, the model has ${want}`);
  }
  const config: PrefixTuningConfig = {
    num_virtual_tokens: folder.numVirtualTokens,
    prefix_projection: json.prefix_projection === true,
    encoder_hidden_size: Number.isInteger(json.encoder_hidden_size) ? (json.encoder_hidden_size as number) : null,
    init_weights: json.init_weights === 'zero' ? 'zero' : null,
    modules_to_save: null,
  };
  return withPromptEmbeddings(folder, [config.num_virtual_tokens, layout.width], (saved) => {
    const handle = attach(model, config, new PrefixEncoder(layout, config.num_virtual_tokens, { init: saved }));
    if (!options.isTrainable) handle.encoder.freeze();
    return handle;
  });
}

export default promptMethodPlugin<PrefixTuningConfig>({
  plugin: PLUGIN_NAME,
  pluginDescription: 'Prefix tuning (learned key/value prefixes), Hugging Face PEFT compatible',
  id: METHOD_ID,
  prefix: 'prefix_tuning_',
  peftType: PEFT_TYPE,
  description: 'Prefix tuning / P-tuning v2: learned key/value prefixes in every attention layer (PEFT PREFIX_TUNING format)',
  configSchema: prefixTuningConfigSchema,
  requires: ['attentionPrefix'],
  inject: (model, config) => injectPrefixTuning(model, config),
  load: (model, dir) => loadPrefixTuning(model, dir),
});
