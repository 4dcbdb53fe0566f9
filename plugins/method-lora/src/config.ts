import { schemaDefaults, type ConfigOf, type JSONSchema } from '@leantune/core';
import { targetSpecProblems, targetSpecSchema } from '@leantune/peft';

/**
 * JSON Schema of `methods.lora`, with Hugging Face PEFT's field names (peft/tuners/lora/
 * config.py), so an `adapter_config.json` written by PEFT reads as the same config here and
 * vice versa. The one source of truth: the config type and the defaults derive from it.
 */
/** Largest rank the schema accepts; each layer's own limit (the smaller of its two sides) is checked at plan time. */
export const MAX_LORA_RANK = 4096;
const MAX_LORA_ALPHA = 1_000_000;

export const loraConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    r: { type: 'integer', minimum: 1, maximum: MAX_LORA_RANK, default: 8, description: `LoRA rank (at most ${MAX_LORA_RANK}, and at most the smaller side of each targeted layer, checked when the model is loaded)` },
    lora_alpha: { type: 'number', exclusiveMinimum: 0, maximum: MAX_LORA_ALPHA, default: 8, description: 'scaling = lora_alpha / r (or / √r with use_rslora)' },
    lora_dropout: { type: 'number', minimum: 0, maximum: 1, exclusiveMaximum: 1, default: 0 },
    target_modules: targetSpecSchema(
      'Modules to wrap: list = exact path or name suffix; string = full-match regex over the module path, or "all-linear". Default: the architecture\'s default targets.',
    ),
    exclude_modules: targetSpecSchema('Modules never to wrap, matched like target_modules'),
    fan_in_fan_out: { type: 'boolean', default: false },
    bias: { type: 'string', enum: ['none'], default: 'none', description: 'Only "none" is supported (PEFT also has "all" and "lora_only")' },
    use_rslora: { type: 'boolean', default: false, description: 'Rank-stabilized LoRA: scaling = lora_alpha / √r' },
    modules_to_save: {
      anyOf: [{ type: 'array', items: { type: 'string', minLength: 1 } }, { type: 'null' }],
      default: null,
      description: 'Modules (e.g. a classifier head) trained in full and saved with the adapter',
    },
    init_lora_weights: {
      anyOf: [{ type: 'boolean' }, { type: 'string', pattern: '^(gaussian|pissa|pissa_niter_[0-9]+)$' }],
      default: true,
      description: 'true, false, "gaussian", "pissa" or "pissa_niter_<n>"',
    },
    layers_to_transform: {
      anyOf: [{ type: 'array', items: { type: 'integer', minimum: 0, maximum: 100000 } }, { type: 'integer', minimum: 0, maximum: 100000 }, { type: 'null' }],
      default: null,
    },
    layers_pattern: targetSpecSchema('Name of the layer list (e.g. "h", "layer") that layers_to_transform indexes'),
    rank_pattern: { type: 'object', additionalProperties: { type: 'integer', minimum: 1, maximum: MAX_LORA_RANK }, default: {} },
    alpha_pattern: { type: 'object', additionalProperties: { type: 'number', exclusiveMinimum: 0, maximum: MAX_LORA_ALPHA }, default: {} },
    use_dora: { type: 'boolean', default: false, description: 'Weight-decomposed LoRA (magnitude vector + direction)' },
  },
} as const satisfies JSONSchema;
/** LoRA's config, derived from its schema (ConfigOf). */
export type LoraConfig = ConfigOf<typeof loraConfigSchema>;

/** PEFT's defaults, read from the schema. */
export const LORA_DEFAULTS: LoraConfig = schemaDefaults<LoraConfig>(loraConfigSchema);

/** Fills PEFT's defaults into a partial config (callers outside a Run have no ajv pass). */
export function resolveLoraConfig(partial: Partial<LoraConfig> = {}): LoraConfig {
  const cfg: LoraConfig = { ...LORA_DEFAULTS, ...partial };
  for (const key of Object.keys(cfg) as Array<keyof LoraConfig>) {
    if (cfg[key] === undefined) (cfg as unknown as Record<string, unknown>)[key] = LORA_DEFAULTS[key];
  }
  return cfg;
}

/**
 * Checks PEFT enforces in LoraConfig.__post_init__ plus value checks the schema cannot
 * express. Throws one Error listing every problem, each naming the field.
 */
export function checkLoraConfig(cfg: LoraConfig, where = 'LoRA config'): void {
  const problems: string[] = [];
  if (!Number.isInteger(cfg.r) || cfg.r < 1 || cfg.r > MAX_LORA_RANK) problems.push(`r must be an integer from 1 to ${MAX_LORA_RANK}, got ${cfg.r}`);
  if (!(cfg.lora_alpha > 0)) problems.push(`lora_alpha must be > 0, got ${cfg.lora_alpha}`);
  if (!(cfg.lora_dropout >= 0 && cfg.lora_dropout < 1)) problems.push(`lora_dropout must be in [0, 1), got ${cfg.lora_dropout}`);
  if (cfg.bias !== 'none') {
    problems.push(`bias "${String(cfg.bias)}" is not supported; only "none" is (train biases with BitFit or the run's "trainable" patterns instead)`);
  }
  const init = cfg.init_lora_weights;
  if (typeof init === 'string' && !/^(gaussian|pissa|pissa_niter_\d+)$/.test(init)) {
    problems.push(`init_lora_weights "${init}" is not supported; use true, false, "gaussian", "pissa" or "pissa_niter_<n>"`);
  }
  if (typeof cfg.target_modules === 'string') {
    if (cfg.layers_to_transform != null) problems.push('layers_to_transform cannot be used when target_modules is a string (regex); list the modules instead');
    if (cfg.layers_pattern != null) problems.push('layers_pattern cannot be used when target_modules is a string (regex); list the modules instead');
  }
  // "all-linear" is a keyword, not a regex.
  const regexFields = (['target_modules', 'exclude_modules'] as const).filter((f) => String(cfg[f]).toLowerCase() !== 'all-linear');
  problems.push(...targetSpecProblems(cfg, regexFields));
  for (const [field, pattern] of [['rank_pattern', cfg.rank_pattern], ['alpha_pattern', cfg.alpha_pattern]] as const) {
    for (const [key, value] of Object.entries(pattern ?? {})) {
      if (field === 'rank_pattern' ? !(Number.isInteger(value) && value >= 1) : !(value > 0)) {
        problems.push(`${field}["${key}"] must be ${field === 'rank_pattern' ? 'an integer >= 1' : '> 0'}, got ${value}`);
      }
      try {
        new RegExp(key);
      } catch {
        problems.push(`${field} key "${key}" is not a valid regular expression`);
      }
    }
  }
  if (problems.length) throw new Error(`${where} is invalid:\n- ${problems.join('\n- ')}`);
}

/**
 * PEFT's get_pattern_key: the first pattern key that matches the end of the module path
 * at a dot boundary (`(.*\.)?(key)$`), or undefined.
 */
export function patternKeyFor(patterns: Record<string, unknown>, modulePath: string): string | undefined {
  return Object.keys(patterns).find((key) => new RegExp(`^(.*\\.)?(${key})$`).test(modulePath));
}

/** Rank, alpha and scaling of one module, after rank_pattern / alpha_pattern. */
export function layerHyperparameters(cfg: LoraConfig, modulePath: string): { r: number; alpha: number; scaling: number } {
  const rKey = patternKeyFor(cfg.rank_pattern ?? {}, modulePath);
  const aKey = patternKeyFor(cfg.alpha_pattern ?? {}, modulePath);
  const r = rKey !== undefined ? cfg.rank_pattern[rKey] : cfg.r;
  const alpha = aKey !== undefined ? cfg.alpha_pattern[aKey] : cfg.lora_alpha;
  return { r, alpha, scaling: cfg.use_rslora ? alpha / Math.sqrt(r) : alpha / r };
}
