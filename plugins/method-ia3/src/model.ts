import { Conv1D, Linear, type Module } from '@leantune/tensor';
import { IA3_DEFAULT_FEEDFORWARD, IA3_DEFAULT_TARGETS, resolveIa3Config, type Ia3Config } from './config';
import { Ia3Layer, type Ia3Base } from './ia3-layer';
import { findModules, matchesSpec, type TargetSpec } from '@leantune/core';

export interface Ia3Plan {
  config: Ia3Config;
  targets: Array<{ path: string; module: Ia3Base; feedforward: boolean }>;
}

export interface InjectIa3Options {
  arch?: string;
  /** Initialisation override (a load fills the vectors from a file). */
  init?: boolean;
}

const states = new WeakMap<Module, Ia3Config>();

export function ia3State(model: Module): Ia3Config | undefined {
  return states.get(model);
}

/** Everything inject would do, checked up front; the model is not touched. */
export function planIa3(model: Module, partial: Partial<Ia3Config>, options: InjectIa3Options = {}): Ia3Plan {
  if (states.has(model)) throw new Error('This model already has IA3 vectors; mergeAndUnload or unload first (one IA3 adapter per model)');
  const cfg = resolveIa3Config(partial);
  let targets: TargetSpec;
  let feedforward: TargetSpec;
  const t = cfg.target_modules;
  if (t != null && !(Array.isArray(t) && t.length === 0)) {
    targets = t;
    feedforward = cfg.feedforward_modules ?? [];
  } else {
    const arch = options.arch ?? '';
    if (!IA3_DEFAULT_TARGETS[arch]) {
      throw new Error(`IA3 target_modules is not set and architecture "${options.arch ?? 'unknown'}" has no default targets. Set target_modules and feedforward_modules.`);
    }
    targets = [...IA3_DEFAULT_TARGETS[arch]];
    feedforward = cfg.feedforward_modules ?? [...IA3_DEFAULT_FEEDFORWARD[arch]];
  }
  const hits = findModules(model, { targets, exclude: cfg.exclude_modules, opaque: (m) => m instanceof Ia3Layer, what: 'IA3 target_modules' });
  const planned = hits.map(([path, module]) => {
    if (module instanceof Ia3Layer) throw new Error(`IA3 target "${path}" already holds an IA3 vector`);
    if (!(module instanceof Linear || module instanceof Conv1D)) {
      throw new Error(`IA3 target "${path}" is a ${module.constructor.name}; only Linear and Conv1D layers are supported. Name its Linear children instead.`);
    }
    return { path, module, feedforward: matchesSpec(feedforward, path) };
  });
  const ffPaths = planned.filter((p) => p.feedforward).map((p) => p.path);
  const config: Ia3Config = {
    ...cfg,
    target_modules: typeof targets === 'string' ? targets : planned.map((p) => p.path).sort(),
    feedforward_modules: typeof feedforward === 'string' ? feedforward : ffPaths.sort(),
    fan_in_fan_out: planned.some((p) => p.module instanceof Conv1D),
  };
  return { config, targets: planned };
}

export function applyIa3Plan(model: Module, plan: Ia3Plan, init = plan.config.init_ia3_weights): Module {
  for (const t of plan.targets) model.setSubmodule(t.path, new Ia3Layer(t.module, t.feedforward, 'default', init));
  states.set(model, plan.config);
  return model;
}

/** Wraps the targeted layers with IA3 vectors (PEFT's inject_adapter for IA3). */
export function injectIa3(model: Module, partial: Partial<Ia3Config>, options: InjectIa3Options = {}): Module {
  return applyIa3Plan(model, planIa3(model, partial, options), options.init);
}

export function ia3Layers(model: Module): Array<[string, Ia3Layer]> {
  return [...model.namedModules()].filter((e): e is [string, Ia3Layer] => e[1] instanceof Ia3Layer);
}

/** Runs fn with every IA3 vector bypassed, then restores. */
export function withIa3Disabled<T>(model: Module, fn: () => T): T {
  const layers = ia3Layers(model).map(([, l]) => l);
  layers.forEach((l) => (l.disabled = true));
  try {
    return fn();
  } finally {
    layers.forEach((l) => (l.disabled = false));
  }
}

export function mergeIa3(model: Module): void {
  for (const [, l] of ia3Layers(model)) l.merge();
}

export function unmergeIa3(model: Module): void {
  for (const [, l] of ia3Layers(model)) l.unmerge();
}

function unloadAll(model: Module, merge: boolean): Module {
  for (const [path, layer] of ia3Layers(model)) {
    if (merge) layer.merge();
    else layer.unmerge();
    model.setSubmodule(path, layer.baseLayer);
    layer.vector.dispose();
  }
  states.delete(model);
  return model;
}

/** Folds every vector into its layer's weights and puts the plain layers back (PEFT's merge_and_unload). */
export function mergeAndUnload(model: Module): Module {
  return unloadAll(model, true);
}

/** Puts the original (unscaled) layers back. */
export function unload(model: Module): Module {
  return unloadAll(model, false);
}
