import { schemaDefaults, type ConfigOf, type JSONSchema } from '@leantune/core';

/**
 * JSON Schema of `methods.coop`, with CoOp's own option names (Zhou et al. 2022, the
 * official KaiyangZhou/CoOp trainer: N_CTX, CTX_INIT, CSC, CLASS_TOKEN_POSITION): the one
 * source of truth; the config type and defaults derive from it.
 */
export const coopConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    n_ctx: { type: 'integer', minimum: 1, maximum: 64, default: 16, description: 'Context vectors (ignored with ctx_init, whose tokens set it)' },
    ctx_init: {
      anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }],
      default: null,
      description: 'Initialise the context from this phrase\'s token embeddings, e.g. "a photo of a"; null: random N(0, 0.02)',
    },
    csc: { type: 'boolean', default: false, description: 'Class-specific context: one context per class instead of one shared' },
    class_token_position: { enum: ['end', 'middle', 'front'], default: 'end', description: 'Where the class name goes among the context vectors' },
    frozen: {
      type: 'boolean',
      default: false,
      description: 'Keep the context fixed (nothing trains): with ctx_init, zero-shot CLIP with the hand-written prompt, through the same code',
    },
    modules_to_save: { type: 'null', default: null, description: 'not supported' },
  },
} as const satisfies JSONSchema;

/** CoOp's config, derived from its schema. */
export type CoopConfig = ConfigOf<typeof coopConfigSchema>;

export const COOP_DEFAULTS: CoopConfig = schemaDefaults<CoopConfig>(coopConfigSchema);

/** The peft_type CoOp writes in adapter_config.json (PEFT has no CoOp; this is leantune's). */
export const COOP_PEFT_TYPE = 'COOP';

/** CoOp's random init: N(0, 0.02²) (nn.init.normal_(ctx_vectors, std=0.02)). */
export const COOP_INIT_STD = 0.02;
