import { schemaDefaults, type ConfigOf, type JSONSchema } from '@leantune/core';
import { targetSpecProblems, targetSpecSchema } from '@leantune/peft';

/**
 * JSON Schema of `methods.ia3`, with Hugging Face PEFT's field names (peft/tuners/ia3/config.py):
 * the one source of truth; the config type and defaults derive from it.
 */
export const ia3ConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    target_modules: targetSpecSchema('Modules to rescale (Linear/Conv1D): list = exact path or name suffix; string = full-match regex. Default: the architecture\'s keys, values and FFN down-projection.'),
    feedforward_modules: targetSpecSchema('Targets whose input (not output) is rescaled; must be a subset of target_modules'),
    exclude_modules: targetSpecSchema('Modules never to rescale, matched like target_modules'),
    fan_in_fan_out: { type: 'boolean', default: false },
    init_ia3_weights: { type: 'boolean', default: true, description: 'true: vectors of ones (identity at init)' },
    modules_to_save: { type: 'null', default: null, description: 'not supported (train a head with the run\'s "trainable" patterns)' },
  },
} as const satisfies JSONSchema;

/** IA3's config, derived from its schema. */
export type Ia3Config = ConfigOf<typeof ia3ConfigSchema>;

export const IA3_DEFAULTS: Ia3Config = schemaDefaults<Ia3Config>(ia3ConfigSchema);

/** Default targets and feed-forward modules per architecture (PEFT's IA3 mappings, plus ours for vit, clip, use-lite). */
export const IA3_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = {
  bert: ['key', 'value', 'output.dense'],
  roberta: ['key', 'value', 'output.dense'],
  vit: ['key', 'value', 'output.dense'],
  gpt2: ['c_attn', 'mlp.c_proj'],
  clip: ['k_proj', 'v_proj', 'fc2'],
  'use-lite': ['k', 'v', 'fc2'],
};

export const IA3_DEFAULT_FEEDFORWARD: Readonly<Record<string, readonly string[]>> = {
  bert: ['output.dense'],
  roberta: ['output.dense'],
  vit: ['output.dense'],
  gpt2: ['mlp.c_proj'],
  clip: ['fc2'],
  'use-lite': ['fc2'],
};

export function resolveIa3Config(partial: Partial<Ia3Config> = {}, where = 'IA3 config'): Ia3Config {
  const cfg: Ia3Config = { ...IA3_DEFAULTS };
  for (const [k, v] of Object.entries(partial)) if (v !== undefined) (cfg as unknown as Record<string, unknown>)[k] = v;
  const problems: string[] = [];
  problems.push(...targetSpecProblems(cfg, ['target_modules', 'feedforward_modules', 'exclude_modules']));
  // PEFT's IA3Config.__post_init__ check.
  const { target_modules: t, feedforward_modules: ff } = cfg;
  if (Array.isArray(t) && Array.isArray(ff)) {
    const extra = ff.filter((m) => !t.includes(m));
    if (extra.length) problems.push(`feedforward_modules should be a subset of target_modules; ${JSON.stringify(extra)} ${extra.length > 1 ? 'are' : 'is'} not in target_modules ${JSON.stringify(t)}`);
  }
  if (cfg.modules_to_save != null) problems.push('modules_to_save is not supported; make the head trainable with the run\'s "trainable" patterns');
  if (problems.length) throw new Error(`${where} is invalid:\n- ${problems.join('\n- ')}`);
  return cfg;
}
