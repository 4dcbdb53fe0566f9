import { requirePoints, type JSONSchema, type LoadedModel } from '@leantune/core';
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
  sampleVocabIds,
  textInitIds,
  withPromptEmbeddings,
  writeAdapterFolder,
  type PromptHandle,
} from '@leantune/peft';
import { normal, tf } from '@leantune/tensor';

export const PLUGIN_NAME = '@leantune/plugin-prompt-tuning';
export const METHOD_ID = 'prompt-tuning';
export const PEFT_TYPE = 'PROMPT_TUNING';
/** The root's child holding the virtual tokens: `prompt_tuning_encoder.weight`. */
export const PROMPT_TUNING_CHILD = 'prompt_tuning_encoder';

const INITS = ['RANDOM', 'SAMPLE_VOCAB', 'TEXT'] as const;
export type PromptTuningInit = (typeof INITS)[number];

/** `methods.prompt-tuning`, with PEFT's PromptTuningConfig field names. */
export interface PromptTuningConfig {
  num_virtual_tokens: number;
  prompt_tuning_init: PromptTuningInit | Lowercase<PromptTuningInit>;
  prompt_tuning_init_text: string | null;
  tokenizer_name_or_path: string | null;
  tokenizer_kwargs: null;
  modules_to_save: null;
}

export const promptTuningConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...promptLearningSchemaFields,
    prompt_tuning_init: {
      enum: [...INITS, ...INITS.map((i) => i.toLowerCase())],
      default: 'RANDOM',
      description: 'RANDOM: N(0, 1) as PEFT\'s nn.Embedding; SAMPLE_VOCAB: embeddings of tokens drawn from the vocabulary; TEXT: embeddings of prompt_tuning_init_text, repeated or cut to num_virtual_tokens',
    },
    prompt_tuning_init_text: { type: ['string', 'null'], default: null, description: 'The text of TEXT init, tokenised by the model\'s own tokenizer' },
    tokenizer_name_or_path: { type: ['string', 'null'], default: null, description: 'Recorded in the file (PEFT needs it with TEXT); the model\'s own tokenizer is used. Default: the base model\'s name' },
    tokenizer_kwargs: { type: 'null', default: null, description: 'not supported: the model\'s tokenizer is used as loaded' },
  },
  // PEFT's PromptTuningConfig.__post_init__: TEXT needs a text.
  if: { properties: { prompt_tuning_init: { enum: ['TEXT', 'text'] } }, required: ['prompt_tuning_init'] },
  then: { properties: { prompt_tuning_init_text: { type: 'string', minLength: 1 } }, required: ['prompt_tuning_init_text'] },
} as const satisfies JSONSchema;

export type PromptTuningHandle = PromptHandle<PromptTuningConfig> & { readonly embedding: PromptTable };

/** The initial virtual tokens [n, dim] (a new tensor) for `config` on `model`. */
export function initialPrompt(model: LoadedModel, config: PromptTuningConfig, seed: number): tf.Tensor2D {
  const points = requirePoints(model, ['inputEmbeddings'], METHOD_ID);
  const { dim } = points.inputEmbeddings!;
  const n = config.num_virtual_tokens;
  const init = config.prompt_tuning_init.toUpperCase() as PromptTuningInit;
  if (init === 'RANDOM') return normal([n, dim], 1) as tf.Tensor2D;
  const vocabulary = requirePoints(model, ['inputEmbeddings.vocabulary'], `${METHOD_ID} (prompt_tuning_init ${init})`).inputEmbeddings!.vocabulary!;
  if (init === 'SAMPLE_VOCAB') return vocabulary.embed(sampleVocabIds(vocabulary.size, n, seed));
  const tokenizer = requirePoints(model, ['tokenizer'], `${METHOD_ID} (prompt_tuning_init TEXT)`).tokenizer!;
  // PEFT: tokenizer(init_text)["input_ids"], special tokens included, then cut or repeated to n.
  return vocabulary.embed(textInitIds(tokenizer.encode(config.prompt_tuning_init_text ?? ''), n));
}

/** adapter_config.json as PEFT's PromptTuningConfig writes it. */
export function peftPromptTuningConfigJson(model: LoadedModel, config: PromptTuningConfig): Record<string, unknown> {
  const init = config.prompt_tuning_init.toUpperCase();
  return promptLearningConfigJson(
    PEFT_TYPE,
    config.num_virtual_tokens,
    promptDims(model),
    {
      prompt_tuning_init: init,
      prompt_tuning_init_text: config.prompt_tuning_init_text,
      // PEFT refuses TEXT without a tokenizer name when it reads the file back.
      tokenizer_name_or_path: config.tokenizer_name_or_path ?? (init === 'TEXT' ? model.name : null),
      tokenizer_kwargs: null,
    },
    peftSaveOptionsOf(model),
  );
}

/** Puts `init` [n, dim] before every input of `model` as trainable virtual tokens; the handle owns them. */
export function attachPromptTuning(model: LoadedModel, config: PromptTuningConfig, init: tf.Tensor): PromptTuningHandle {
  const point = requirePoints(model, ['inputEmbeddings'], METHOD_ID).inputEmbeddings!;
  const resolved: PromptTuningConfig = { ...config, prompt_tuning_init: config.prompt_tuning_init.toUpperCase() as PromptTuningInit };
  const embedding = new PromptTable(init);
  const handle = promptHandle({
    method: METHOD_ID,
    model,
    config: resolved,
    child: PROMPT_TUNING_CHILD,
    module: embedding,
    register: () => [point.addVirtualTokens(() => embedding.weight)],
    save(dir) {
      writeAdapterFolder(dir, new Map([[PROMPT_EMBEDDINGS_KEY, embedding.weight]]), peftPromptTuningConfigJson(model, resolved));
    },
  });
  return Object.assign(handle, { embedding });
}

export function injectPromptTuning(model: LoadedModel, config: PromptTuningConfig, seed = 0): PromptTuningHandle {
  requirePoints(model, ['inputEmbeddings'], METHOD_ID);
  checkVirtualTokenCount(model, config.num_virtual_tokens, METHOD_ID);
  const init = initialPrompt(model, config, seed);
  try {
    return attachPromptTuning(model, config, init);
  } finally {
    init.dispose();
  }
}

/**
 * Loads a PEFT PROMPT_TUNING folder onto `model`: `prompt_embeddings` [num_virtual_tokens,
 * token_dim] become its virtual tokens, frozen (PEFT's is_trainable=False) unless asked.
 */
export function loadPromptTuning(model: LoadedModel, dir: string, options: { isTrainable?: boolean } = {}): PromptTuningHandle {
  const point = requirePoints(model, ['inputEmbeddings'], METHOD_ID).inputEmbeddings!;
  const folder = readPromptFolder(dir, PEFT_TYPE, PLUGIN_NAME, point.dim);
  const { json } = folder;
  const init = String(json.prompt_tuning_init ?? 'RANDOM').toUpperCase();
  if (!(INITS as readonly string[]).includes(init)) throw new Error(`${folder.configFile}: prompt_tuning_init ${JSON.stringify(json.prompt_tuning_init)} is not one of ${INITS.join(', ')}`);
  const config: PromptTuningConfig = {
    num_virtual_tokens: folder.numVirtualTokens,
    prompt_tuning_init: init as PromptTuningInit,
    prompt_tuning_init_text: typeof json.prompt_tuning_init_text === 'string' ? json.prompt_tuning_init_text : null,
    tokenizer_name_or_path: typeof json.tokenizer_name_or_path === 'string' ? json.tokenizer_name_or_path : null,
    tokenizer_kwargs: null,
    modules_to_save: null,
  };
  checkVirtualTokenCount(model, config.num_virtual_tokens, METHOD_ID);
  return withPromptEmbeddings(folder, [config.num_virtual_tokens, point.dim], (saved) => {
    const handle = attachPromptTuning(model, config, saved);
    if (!options.isTrainable) handle.embedding.freeze();
    return handle;
  });
}

export default promptMethodPlugin<PromptTuningConfig>({
  plugin: PLUGIN_NAME,
  pluginDescription: 'Prompt tuning (learned virtual tokens), Hugging Face PEFT compatible',
  id: METHOD_ID,
  prefix: 'prompt_tuning_',
  peftType: PEFT_TYPE,
  description: 'Prompt tuning: n learned virtual tokens before every input (PEFT PROMPT_TUNING format)',
  configSchema: promptTuningConfigSchema,
  requires: ['inputEmbeddings'],
  inject: (model, config, mctx) => injectPromptTuning(model, config, mctx.seed),
  load: (model, dir) => loadPromptTuning(model, dir),
});
