import type { ConfigOf, JSONSchema } from '@leantune/core';
import { targetSpecProblems, targetSpecSchema } from '@leantune/peft';

export const ADAPTER_PRESETS = ['houlsby', 'pfeiffer', 'parallel'] as const;
export type AdapterPreset = (typeof ADAPTER_PRESETS)[number];
export const NON_LINEARITIES = ['relu', 'gelu', 'gelu_new', 'swish', 'silu', 'tanh'] as const;
export type NonLinearity = (typeof NON_LINEARITIES)[number];
export const INIT_WEIGHTS = ['mam_adapter', 'bert', 'houlsby'] as const;
export type InitWeights = (typeof INIT_WEIGHTS)[number];

/** What each preset sets (AdapterHub's values, except init_weights: see README). */
export const PRESET_DEFAULTS: Record<AdapterPreset, { reduction_factor: number; non_linearity: NonLinearity; scaling: number; residual_before_ln: boolean; parallel: boolean }> = {
  houlsby: { reduction_factor: 16, non_linearity: 'swish', scaling: 1, residual_before_ln: true, parallel: false },
  pfeiffer: { reduction_factor: 16, non_linearity: 'relu', scaling: 1, residual_before_ln: true, parallel: false },
  parallel: { reduction_factor: 2, non_linearity: 'relu', scaling: 4, residual_before_ln: false, parallel: true },
};

/** A config with every preset-dependent field filled in. */
export type ResolvedAdapterConfig = Required<Omit<AdapterConfig, 'target_modules' | 'exclude_modules'>> &
  Pick<AdapterConfig, 'target_modules' | 'exclude_modules'> & { is_parallel: boolean };

/** JSON Schema of `methods.adapter`; preset-dependent fields have no schema default on purpose. */
export const adapterConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    config: { type: 'string', enum: ADAPTER_PRESETS, default: 'pfeiffer', description: 'houlsby: after attention output and FFN; pfeiffer: after FFN; parallel: beside the FFN, scaled' },
    target_modules: targetSpecSchema('Modules whose output passes through an adapter (or, for parallel, that the adapter runs beside). Default: the preset\'s placement for the architecture.'),
    exclude_modules: targetSpecSchema('Modules never to wrap, matched like target_modules'),
    reduction_factor: { type: 'number', exclusiveMinimum: 0, maximum: 65536, description: 'bottleneck = floor(hidden / reduction_factor), at least 1 (preset: 16, 16, 2)' },
    non_linearity: { type: 'string', enum: NON_LINEARITIES, description: 'preset: swish (houlsby), relu (pfeiffer, parallel)' },
    scaling: { type: 'number', minimum: -1000, maximum: 1000, description: 'output scale (preset: 1, 1, 4)' },
    residual_before_ln: { type: 'boolean' },
    ln_before: { type: 'boolean', default: false, description: 'LayerNorm on the adapter input (adapter_norm_before)' },
    ln_after: { type: 'boolean', default: false, description: 'LayerNorm on the adapter output + residual (adapter_norm_after)' },
    dropout: { type: 'number', minimum: 0, maximum: 1, exclusiveMaximum: 1, default: 0 },
    init_weights: { type: 'string', enum: INIT_WEIGHTS, default: 'mam_adapter', description: 'mam_adapter: zero up-projection (identity at init); bert: N(0, 0.02); houlsby: truncated N(0, 0.01)' },
  },
} as const satisfies JSONSchema;

/**
 * Bottleneck adapter config, field names after AdapterHub's BnConfig (`adapters` library),
 * derived from the schema. Fields left unset take the preset's value (PRESET_DEFAULTS).
 */
export type AdapterConfig = ConfigOf<typeof adapterConfigSchema>;

/** Fills schema defaults and the preset's values; throws one Error listing every bad field. */
export function resolveAdapterConfig(partial: Partial<AdapterConfig> = {}, where = 'Adapter config'): ResolvedAdapterConfig {
  const preset = partial.config ?? 'pfeiffer';
  const problems: string[] = [];
  if (!ADAPTER_PRESETS.includes(preset)) problems.push(`config "${String(preset)}" is not one of ${ADAPTER_PRESETS.join(', ')}`);
  const p = PRESET_DEFAULTS[preset] ?? PRESET_DEFAULTS.pfeiffer;
  const cfg: ResolvedAdapterConfig = {
    config: preset,
    target_modules: partial.target_modules ?? null,
    exclude_modules: partial.exclude_modules ?? null,
    reduction_factor: partial.reduction_factor ?? p.reduction_factor,
    non_linearity: partial.non_linearity ?? p.non_linearity,
    scaling: partial.scaling ?? p.scaling,
    residual_before_ln: partial.residual_before_ln ?? p.residual_before_ln,
    ln_before: partial.ln_before ?? false,
    ln_after: partial.ln_after ?? false,
    dropout: partial.dropout ?? 0,
    init_weights: partial.init_weights ?? 'mam_adapter',
    is_parallel: p.parallel,
  };
  if (!(cfg.reduction_factor > 0)) problems.push(`reduction_factor must be > 0, got ${cfg.reduction_factor}`);
  if (!NON_LINEARITIES.includes(cfg.non_linearity)) problems.push(`non_linearity "${cfg.non_linearity}" is not one of ${NON_LINEARITIES.join(', ')}`);
  if (!Number.isFinite(cfg.scaling)) problems.push(`scaling must be a finite number, got ${cfg.scaling}`);
  if (!(cfg.dropout >= 0 && cfg.dropout < 1)) problems.push(`dropout must be in [0, 1), got ${cfg.dropout}`);
  if (!INIT_WEIGHTS.includes(cfg.init_weights)) problems.push(`init_weights "${cfg.init_weights}" is not one of ${INIT_WEIGHTS.join(', ')}`);
  problems.push(...targetSpecProblems(cfg, ['target_modules', 'exclude_modules']));
  if (problems.length) throw new Error(`${where} is invalid:\n- ${problems.join('\n- ')}`);
  return cfg;
}
