import type { ConfigOf, JSONSchema } from '@leantune/core';
import { findModules, matchesSpec, modulePaths, targetSpecProblems, targetSpecSchema } from '@leantune/peft';
import { BatchNorm, LayerNorm, type Module } from '@leantune/tensor';

/** JSON Schema of `methods.ln-tuning`, PEFT's LNTuningConfig fields (peft/tuners/ln_tuning/config.py); the type derives from it. */
export const lnTuningConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    target_modules: targetSpecSchema('Normalisation modules to train; default: every LayerNorm, RMSNorm and BatchNorm (by type)'),
    exclude_modules: targetSpecSchema('LayerNorm modules to keep frozen'),
    modules_to_save: { type: 'null', default: null, description: 'not supported (train a head with the run\'s "trainable" patterns)' },
    running_stats: {
      type: 'string',
      enum: ['frozen', 'reestimate'],
      default: 'frozen',
      description: 'BatchNorm only: "frozen" normalises with the running mean/variance and never changes them; "reestimate" normalises training batches with their own statistics and updates the running ones with `momentum` (saved with the adapter)',
    },
    momentum: { type: 'number', exclusiveMinimum: 0, maximum: 1, default: 0.1, description: 'BatchNorm running_stats "reestimate": weight of each batch\'s statistics in the running average (PyTorch\'s momentum)' },
  },
} as const satisfies JSONSchema;

export type LnTuningConfig = ConfigOf<typeof lnTuningConfigSchema>;

/** A normalisation layer: our LayerNorm or BatchNorm, or any module class named *LayerNorm / *RMSNorm. */
export function isNormLayer(m: Module): boolean {
  return m instanceof LayerNorm || m instanceof BatchNorm || /(LayerNorm|RMSNorm)$/.test(m.constructor.name);
}

export type RunningStats = 'frozen' | 'reestimate';
export const RUNNING_STATS: readonly RunningStats[] = ['frozen', 'reestimate'];

export interface LnTuningSelection {
  config: LnTuningConfig;
  /** Module paths of the selected LayerNorms. */
  modules: string[];
  /**
   * target_modules as the user (or the loaded file) wrote them: a list (deduplicated, sorted, as
   * PEFT saves its set) or a regex; null when unset (every norm by type).
   */
  written: string[] | string | null;
}

/** The LayerNorm modules LN tuning trains; a pattern that matches nothing, or a non-norm module, fails naming what exists. */
export function selectLayerNorms(model: Module, partial: Partial<LnTuningConfig> = {}): LnTuningSelection {
  const config: LnTuningConfig = {
    target_modules: partial.target_modules ?? null,
    exclude_modules: partial.exclude_modules ?? null,
    modules_to_save: null,
    running_stats: partial.running_stats ?? 'frozen',
    momentum: partial.momentum ?? 0.1,
  };
  if (partial.modules_to_save != null) throw new Error('LN tuning modules_to_save is not supported; make the head trainable with the run\'s "trainable" patterns');
  if (!RUNNING_STATS.includes(config.running_stats)) throw new Error(`LN tuning running_stats ${JSON.stringify(config.running_stats)} is not one of ${RUNNING_STATS.map((r) => `"${r}"`).join(', ')}`);
  if (!(typeof config.momentum === 'number' && config.momentum > 0 && config.momentum <= 1)) throw new Error(`LN tuning momentum must be a number in (0, 1], got ${JSON.stringify(config.momentum)}`);
  const [badPattern] = targetSpecProblems(config, ['target_modules', 'exclude_modules']);
  if (badPattern) throw new Error(`LN tuning ${badPattern}`);
  const t = config.target_modules;
  let hits: Array<[string, Module]>;
  if (t == null || (Array.isArray(t) && t.length === 0)) {
    const exclude = config.exclude_modules;
    hits = modulePaths(model).filter(([p, m]) => isNormLayer(m) && !(exclude && matchesSpec(exclude, p)));
    if (hits.length === 0) throw new Error('LN tuning found no LayerNorm, RMSNorm or BatchNorm in this model (after exclude_modules); set target_modules to its normalisation layers');
  } else {
    hits = findModules(model, { targets: t, exclude: config.exclude_modules, what: 'LN tuning target_modules' });
    const other = hits.find(([, m]) => !isNormLayer(m));
    if (other) {
      const norms = modulePaths(model).filter(([, m]) => isNormLayer(m)).map(([p]) => p.split('.').pop()!);
      throw new Error(`LN tuning target "${other[0]}" is a ${other[1].constructor.name}, not a normalisation layer; normalisation layers in this model: ${[...new Set(norms)].join(', ') || 'none'}`);
    }
  }
  if (config.running_stats === 'reestimate' && !hits.some(([, m]) => m instanceof BatchNorm)) {
    throw new Error('LN tuning running_stats "reestimate" re-estimates BatchNorm statistics, and no BatchNorm is selected (LayerNorms have none); remove running_stats or target BatchNorm layers');
  }
  const written = t == null || (Array.isArray(t) && t.length === 0) ? null : typeof t === 'string' ? t : [...new Set(t)].sort();
  return { config: { ...config, target_modules: hits.map(([p]) => p).sort() }, modules: hits.map(([p]) => p), written };
}

/**
 * Puts each selected BatchNorm in the selection's running-statistics mode: 'frozen' keeps
 * normalising with the running statistics while training (and never changes them);
 * 'reestimate' uses each training batch's statistics and updates the running ones with the
 * config's momentum. LayerNorms have no statistics and are left alone.
 */
export function applyRunningStats(model: Module, selection: LnTuningSelection): void {
  for (const p of selection.modules) {
    const m = model.getSubmodule(p);
    if (!(m instanceof BatchNorm)) continue;
    if (selection.config.running_stats === 'reestimate') {
      m.statistics = 'batch';
      m.momentum = selection.config.momentum;
    } else m.statistics = 'running';
  }
}

/** Whether the selection holds a BatchNorm (its file then records running_stats and momentum). */
export function selectsBatchNorm(model: Module, selection: LnTuningSelection): boolean {
  return selection.modules.some((p) => model.getSubmodule(p) instanceof BatchNorm);
}

