import { schemaDefaults, type ConfigOf, type JSONSchema } from '@leantune/core';

/**
 * JSON Schema of `methods.vpt`: the one source of truth; the config type and defaults derive
 * from it. Field names follow the official VPT code's MODEL.PROMPT options where they exist
 * (NUM_TOKENS → num_prompts, DEEP → mode, DROPOUT → dropout).
 */
export const vptConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    mode: {
      enum: ['shallow', 'deep'],
      default: 'shallow',
      description: 'shallow: prompts after [CLS] at the input only; deep: fresh prompts at every layer, replacing the previous layer\'s prompt outputs',
    },
    num_prompts: { type: 'integer', minimum: 1, maximum: 1024, default: 10, description: 'Prompt tokens per layer (the paper searches 1–200)' },
    dropout: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0, description: 'Dropout on the prompts while training (the official code\'s PROMPT.DROPOUT, default 0)' },
    modules_to_save: { type: 'null', default: null, description: 'not supported (train a head with the run\'s "trainable" patterns)' },
  },
} as const satisfies JSONSchema;

/** VPT's config, derived from its schema. */
export type VptConfig = ConfigOf<typeof vptConfigSchema>;

export const VPT_DEFAULTS: VptConfig = schemaDefaults<VptConfig>(vptConfigSchema);

/** The peft_type VPT writes in adapter_config.json (PEFT has no VPT; this is leantune's). */
export const VPT_PEFT_TYPE = 'VPT';

/**
 * The bound of VPT's uniform init (Jia et al. 2022, and the official code's
 * `val = sqrt(6 / (3 · patch_area + prompt_dim))`): Xavier uniform over the patch
 * embedding's fan, `patchFanIn` = channels · patch_size² (3 · patch_area on RGB). Without a
 * patch fan (a model that does not say it), Xavier over the prompt table [n, dim] itself.
 */
export function vptInitBound(dim: number, patchFanIn: number | undefined, numPrompts: number): number {
  return Math.sqrt(6 / ((patchFanIn ?? numPrompts) + dim));
}
