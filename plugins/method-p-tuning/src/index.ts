import { requirePoints, type JSONSchema, type LoadedModel, type Logger } from '@leantune/core';
import {
  checkVirtualTokenCount,
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
import { Activation, Linear, Module, normal, Sequential, tf, uniform } from '@leantune/tensor';

export const PLUGIN_NAME = '@leantune/plugin-p-tuning';
export const METHOD_ID = 'p-tuning';
export const PEFT_TYPE = 'P_TUNING';
/** The root's child holding the prompt encoder: `p_tuning_encoder.embedding.weight`, `.mlp_head.*`, `.lstm_head.*`. */
export const P_TUNING_CHILD = 'p_tuning_encoder';
/** PEFT's PromptEncoderConfig default; the MLP always has exactly this many layers (PEFT warns when told otherwise). */
export const MLP_LAYERS = 2;

/** `methods.p-tuning`, with PEFT's PromptEncoderConfig field names. */
export interface PTuningConfig {
  num_virtual_tokens: number;
  encoder_reparameterization_type: 'MLP' | 'LSTM';
  encoder_hidden_size: number | null;
  encoder_num_layers: number;
  encoder_dropout: number;
  modules_to_save: null;
}

export const pTuningConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...promptLearningSchemaFields,
    encoder_reparameterization_type: { enum: ['MLP', 'LSTM'], default: 'MLP', description: 'MLP: Linear-ReLU-Linear-ReLU-Linear; LSTM: a bidirectional LSTM, then Linear-ReLU-Linear' },
    encoder_hidden_size: { type: ['integer', 'null'], minimum: 1, maximum: 65536, default: null, description: 'Hidden width of the prompt encoder; null: token_dim (PEFT\'s default)' },
    encoder_num_layers: { type: 'integer', minimum: 1, maximum: 8, default: MLP_LAYERS, description: 'LSTM layers (the MLP ignores it, as PEFT)' },
    encoder_dropout: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Dropout between LSTM layers (the MLP ignores it, as PEFT)' },
  },
} as const satisfies JSONSchema;

/**
 * torch.nn.LSTM(input, hidden, num_layers, dropout, bidirectional=True, batch_first=True) on
 * one sequence [n, input] → [n, 2·hidden]: gates i, f, g, o; weights U(±1/√hidden); dropout
 * on every layer's output but the last, in training.
 */
export class BiLstm extends Module {
  constructor(
    readonly inputSize: number,
    readonly hiddenSize: number,
    readonly numLayers: number,
    readonly dropout: number,
  ) {
    super();
    const bound = 1 / Math.sqrt(hiddenSize);
    tf.tidy(() => {
      for (let l = 0; l < numLayers; l++) {
        for (const suffix of ['', '_reverse']) {
          const input = l === 0 ? inputSize : 2 * hiddenSize;
          this.addParameter(`weight_ih_l${l}${suffix}`, uniform([4 * hiddenSize, input], -bound, bound));
          this.addParameter(`weight_hh_l${l}${suffix}`, uniform([4 * hiddenSize, hiddenSize], -bound, bound));
          this.addParameter(`bias_ih_l${l}${suffix}`, uniform([4 * hiddenSize], -bound, bound));
          this.addParameter(`bias_hh_l${l}${suffix}`, uniform([4 * hiddenSize], -bound, bound));
        }
      }
    });
  }

  /** One direction of layer `l` over `x` [n, in] → [n, hidden]. */
  private direction(x: tf.Tensor2D, l: number, suffix: string): tf.Tensor2D {
    const H = this.hiddenSize;
    const n = x.shape[0];
    const inputs = tf.add(tf.add(tf.matMul(x, this.param(`weight_ih_l${l}${suffix}`), false, true), this.param(`bias_ih_l${l}${suffix}`)), this.param(`bias_hh_l${l}${suffix}`));
    const whh = this.param(`weight_hh_l${l}${suffix}`);
    let h: tf.Tensor = tf.zeros([1, H]);
    let c: tf.Tensor = tf.zeros([1, H]);
    const out: tf.Tensor[] = new Array(n);
    const order = suffix ? [...Array(n).keys()].reverse() : [...Array(n).keys()];
    for (const t of order) {
      const gates = tf.add(tf.slice(inputs, [t, 0], [1, -1]), tf.matMul(h, whh, false, true));
      const [i, f, g, o] = tf.split(gates, 4, 1);
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
      out[t] = h;
    }
    return tf.concat(out, 0) as tf.Tensor2D;
  }

  forward(x: tf.Tensor2D, training = false): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      for (let l = 0; l < this.numLayers; l++) {
        h = tf.concat([this.direction(h, l, ''), this.direction(h, l, '_reverse')], 1) as tf.Tensor2D;
        if (training && this.dropout > 0 && l < this.numLayers - 1) {
          const keep = tf.floor(tf.add(uniform(h.shape, 0, 1), 1 - this.dropout));
          h = tf.mul(h, tf.mul(keep, 1 / (1 - this.dropout))) as tf.Tensor2D;
        }
      }
      return h;
    });
  }
}

/** PEFT's PromptEncoder: `embedding` [n, token_dim] through `mlp_head` (MLP) or `lstm_head` then `mlp_head` (LSTM). */
export class PromptEncoder extends Module {
  constructor(tokenDim: number, numVirtualTokens: number, config: Pick<PTuningConfig, 'encoder_reparameterization_type' | 'encoder_num_layers' | 'encoder_dropout'> & { encoder_hidden_size: number }) {
    super();
    const H = config.encoder_hidden_size;
    tf.tidy(() => void this.addModule('embedding', new PromptTable(normal([numVirtualTokens, tokenDim], 1))));
    if (config.encoder_reparameterization_type === 'LSTM') {
      this.addModule('lstm_head', new BiLstm(tokenDim, H, config.encoder_num_layers, config.encoder_dropout));
      this.addModule('mlp_head', new Sequential(new Linear(2 * H, 2 * H), new Activation('relu'), new Linear(2 * H, tokenDim)));
    } else {
      this.addModule('mlp_head', new Sequential(new Linear(tokenDim, H), new Activation('relu'), new Linear(H, H), new Activation('relu'), new Linear(H, tokenDim)));
    }
  }

  /** The virtual tokens [n, token_dim]. */
  tokens(training: boolean): tf.Tensor2D {
    return tf.tidy(() => {
      let x = this.child<PromptTable>('embedding')!.weight as tf.Tensor2D;
      const lstm = this.child<BiLstm>('lstm_head');
      if (lstm) x = lstm.forward(x, training);
      return this.child<Sequential>('mlp_head')!.forward(x) as tf.Tensor2D;
    });
  }

  forward(): tf.Tensor {
    return this.tokens(false);
  }
}

export type PTuningHandle = PromptHandle<PTuningConfig> & { readonly encoder: Module };

/** adapter_config.json as PEFT's PromptEncoderConfig writes it. */
export function peftPTuningConfigJson(model: LoadedModel, config: PTuningConfig): Record<string, unknown> {
  const dims = promptDims(model);
  return promptLearningConfigJson(
    PEFT_TYPE,
    config.num_virtual_tokens,
    dims,
    {
      encoder_reparameterization_type: config.encoder_reparameterization_type,
      encoder_hidden_size: config.encoder_hidden_size ?? dims.token_dim,
      encoder_num_layers: config.encoder_num_layers,
      encoder_dropout: config.encoder_dropout,
    },
    peftSaveOptionsOf(model),
  );
}

/** Virtual tokens from `tokens(training)` on the model's input; the handle saves them (the encoder dropped) as PEFT does. */
function attach(model: LoadedModel, config: PTuningConfig, encoder: Module, tokens: (training: boolean) => tf.Tensor): PTuningHandle {
  const point = model.points!.inputEmbeddings!;
  const handle = promptHandle({
    method: METHOD_ID,
    model,
    config,
    child: P_TUNING_CHILD,
    module: encoder,
    register: () => [point.addVirtualTokens((_batch, training) => tokens(training))],
    save(dir) {
      const produced = tokens(false);
      try {
        writeAdapterFolder(dir, new Map([[PROMPT_EMBEDDINGS_KEY, produced]]), peftPTuningConfigJson(model, config));
      } finally {
        if (!(produced instanceof tf.Variable)) produced.dispose();
      }
    },
  });
  return Object.assign(handle, { encoder });
}

export function injectPTuning(model: LoadedModel, config: PTuningConfig, log?: Logger): PTuningHandle {
  const { dim } = requirePoints(model, ['inputEmbeddings'], METHOD_ID).inputEmbeddings!;
  checkVirtualTokenCount(model, config.num_virtual_tokens, METHOD_ID);
  if (config.encoder_reparameterization_type === 'MLP' && config.encoder_num_layers !== MLP_LAYERS) {
    log?.warn(`${METHOD_ID}: for MLP, encoder_num_layers (${config.encoder_num_layers}) is ignored; exactly ${MLP_LAYERS} MLP layers are used (as PEFT)`);
  }
  const resolved: PTuningConfig = { ...config, encoder_hidden_size: config.encoder_hidden_size ?? dim };
  const encoder = new PromptEncoder(dim, config.num_virtual_tokens, { ...resolved, encoder_hidden_size: resolved.encoder_hidden_size! });
  try {
    return attach(model, resolved, encoder, (training) => encoder.tokens(training));
  } catch (err) {
    encoder.dispose();
    throw err;
  }
}

/**
 * Loads a PEFT P_TUNING folder: `prompt_embeddings` [num_virtual_tokens, token_dim] are the
 * encoder's output saved without the encoder (PEFT's inference mode), frozen unless asked.
 */
export function loadPTuning(model: LoadedModel, dir: string, options: { isTrainable?: boolean } = {}): PTuningHandle {
  const { dim } = requirePoints(model, ['inputEmbeddings'], METHOD_ID).inputEmbeddings!;
  const folder = readPromptFolder(dir, PEFT_TYPE, PLUGIN_NAME, dim);
  const { json } = folder;
  const type = json.encoder_reparameterization_type ?? 'MLP';
  if (type !== 'MLP' && type !== 'LSTM') throw new Error(`${folder.configFile}: encoder_reparameterization_type ${JSON.stringify(type)} is not one of MLP, LSTM`);
  const config: PTuningConfig = {
    num_virtual_tokens: folder.numVirtualTokens,
    encoder_reparameterization_type: type,
    encoder_hidden_size: Number.isInteger(json.encoder_hidden_size) ? (json.encoder_hidden_size as number) : null,
    encoder_num_layers: Number.isInteger(json.encoder_num_layers) ? (json.encoder_num_layers as number) : MLP_LAYERS,
    encoder_dropout: typeof json.encoder_dropout === 'number' ? json.encoder_dropout : 0,
    modules_to_save: null,
  };
  return withPromptEmbeddings(folder, [config.num_virtual_tokens, dim], (saved) => {
    const table = new PromptTable(saved);
    if (!options.isTrainable) table.freeze();
    return attach(model, config, table, () => table.weight);
  });
}

export default promptMethodPlugin<PTuningConfig>({
  plugin: PLUGIN_NAME,
  pluginDescription: 'P-tuning (prompt encoder: MLP or LSTM), Hugging Face PEFT compatible',
  id: METHOD_ID,
  prefix: 'p_tuning_',
  peftType: PEFT_TYPE,
  description: 'P-tuning: virtual tokens produced by a prompt encoder (MLP or bidirectional LSTM); the encoder is dropped at save (PEFT P_TUNING format)',
  configSchema: pTuningConfigSchema,
  requires: ['inputEmbeddings'],
  inject: (model, config, mctx) => injectPTuning(model, config, mctx.log),
  load: (model, dir) => loadPTuning(model, dir),
});
