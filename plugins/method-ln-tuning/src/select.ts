import type { ConfigOf, JSONSchema } from '@leantune/core';
import { findModules, matchesSpec, modulePaths, targetSpecProblems, targetSpecSchema } from '@leantune/peft';
import { LayerNorm, type Module } from '@leantune/tensor';

/** JSON Schema of `methods.ln-tuning`, PEFT's LNTuningConfig fields (peft/tuners/ln_tuning/config.py); the type derives from it. */
export const lnTuningConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    target_modules: targetSpecSchema('LayerNorm modules to train; default: every LayerNorm (by type)'),
    exclude_modules: targetSpecSchema('LayerNorm modules to keep frozen'),
    modules_to_save: { type: 'null', default: null, description: 'not supported (train a head with the run\'s "trainable" patterns)' },
  },
} as const satisfies JSONSchema;

export type LnTuningConfig = ConfigOf<typeof lnTuningConfigSchema>;

/** A normalisation layer: our LayerNorm, or any module class named *LayerNorm / *RMSNorm. */
export function isNormLayer(m: Module): boolean {
  return m instanceof LayerNorm || /(LayerNorm|RMSNorm)$/.test(m.constructor.name);
}

export interface LnTuningSelection {
  config: LnTuningConfig;
  /** Module paths of the selected LayerNorms. */
  modules: string[];
}

/** The LayerNorm modules LN tuning trains; a pattern that matches nothing, or a non-norm module, fails naming what exists. */
export function selectLayerNorms(model: Module, partial: Partial<LnTuningConfig> = {}): LnTuningSelection {
  const config: LnTuningConfig = { target_modules: partial.target_modules ?? null, exclude_modules: partial.exclude_modules ?? null, modules_to_save: null };
  if (partial.modules_to_save != null) throw new Error('LN tuning modules_to_save is not supported; make the head trainable with the run\'s "trainable" patterns');
  const [badPattern] = targetSpecProblems(config, ['target_modules', 'exclude_modules']);
  if (badPattern) throw new Error(`LN tuning ${badPattern}`);
  const t = config.target_modules;
  let hits: Array<[string, Module]>;
  if (t == null || (Array.isArray(t) && t.length === 0)) {
    const exclude = config.exclude_modules;
    hits = modulePaths(model).filter(([p, m]) => isNormLayer(m) && !(exclude && matchesSpec(exclude, p)));
    if (hits.length === 0) throw new Error('LN tuning found no LayerNorm in this model (after exclude_modules); set target_modules to its normalisation layers');
  } else {
    hits = findModules(model, { targets: t, exclude: config.exclude_modules, what: 'LN tuning target_modules' });
    const other = hits.find(([, m]) => !isNormLayer(m));
    if (other) {
      const norms = modulePaths(model).filter(([, m]) => isNormLayer(m)).map(([p]) => p.split('.').pop()!);
      throw new Error(`LN tuning target "${other[0]}" is a ${other[1].constructor.name}, not a LayerNorm; LayerNorms in this model: ${[...new Set(norms)].join(', ') || 'none'}`);
    }
  }
  return { config: { ...config, target_modules: hits.map(([p]) => p).sort() }, modules: hits.map(([p]) => p) };
}

