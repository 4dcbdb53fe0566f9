import { Conv1D, Conv2d, Linear, type Module } from '@leantune/tensor';
import { hasPrefixedSegment, type MethodHandle } from '@leantune/core';
import { findModules, tunerLifecycle, type TargetSpec, type TunerLifecycle } from '@leantune/peft';
import { IA3_DEFAULT_FEEDFORWARD, IA3_DEFAULT_TARGETS, resolveIa3Config, type Ia3Config } from './config';
import { Ia3Layer, type Ia3Base } from './ia3-layer';
import { saveIa3, type SaveIa3Options } from './io';

export interface Ia3Plan {
  config: Ia3Config;
  targets: Array<{ path: string; module: Ia3Base; feedforward: boolean }>;
  /** Where this plan deliberately differs from PEFT (see the README); inject and load pass them to `warn`. */
  warnings: string[];
}

export interface InjectIa3Options {
  arch?: string;
  /** The model's default targets, used when IA3 has no table for `arch`. */
  defaultTargets?: readonly string[];
  /** Initialisation override (a load fills the vectors from a file). */
  init?: boolean;
  /** Receives the plan's warnings (default: process.emitWarning). */
  warn?: (message: string) => void;
}

/**
 * PEFT's IA3Model._check_target_module_feedforward: a regex string must match the whole
 * path; a list entry matches when the path ends with it, as a plain string suffix (so
 * "fc" matches "mlp.c_fc", unlike target_modules' dotted-suffix rule).
 */
export function isFeedforwardModule(feedforward: TargetSpec, path: string): boolean {
  if (typeof feedforward === 'string') return new RegExp(`^(?:${feedforward})$`).test(path);
  return feedforward.some((t) => path.endsWith(t));
}

const isSet = (spec: TargetSpec | null | undefined): spec is TargetSpec => spec != null && !(Array.isArray(spec) && spec.length === 0);

/**
 * Everything inject would do, checked up front; the model is not touched. Targets and
 * feed-forward modules follow PEFT's _prepare_adapter_config: each one not set comes from the
 * architecture's table, independently (so target_modules given without feedforward_modules
 * still gets the table's feed-forward modules).
 */
export function planIa3(model: Module, partial: Partial<Ia3Config>, options: InjectIa3Options = {}): Ia3Plan {
  if (ia3Layers(model).length) throw new Error('This model already has IA3 vectors; mergeAndUnload or unload first (one IA3 adapter per model)');
  const cfg = resolveIa3Config(partial);
  const arch = options.arch ?? '';
  const warnings: string[] = [];
  let targets: TargetSpec;
  if (isSet(cfg.target_modules)) targets = cfg.target_modules;
  else {
    const table = IA3_DEFAULT_TARGETS[arch];
    if (!table && !options.defaultTargets?.length) {
      throw new Error(`IA3 target_modules is not set and architecture "${options.arch ?? 'unknown'}" has no default targets. Set target_modules and feedforward_modules.`);
    }
    // Without a table for the architecture (PEFT raises here), the model's own default targets.
    if (!table) warnings.push(`IA3: architecture "${arch || 'unknown'}" has no IA3 table; using the model's default targets ${JSON.stringify(options.defaultTargets)} (PEFT would ask for target_modules)`);
    targets = [...(table ?? options.defaultTargets!)];
  }
  let feedforward: TargetSpec;
  if (cfg.feedforward_modules != null) feedforward = cfg.feedforward_modules;
  else if (IA3_DEFAULT_FEEDFORWARD[arch]) feedforward = [...IA3_DEFAULT_FEEDFORWARD[arch]];
  else {
    // PEFT raises "Please specify `feedforward_modules`"; we scale every target's output.
    feedforward = [];
    warnings.push(`IA3: feedforward_modules is not set and architecture "${arch || 'unknown'}" has no IA3 table; every target is scaled on its output (PEFT would ask for feedforward_modules)`);
  }
  const hits = findModules(model, { targets, exclude: cfg.exclude_modules, opaque: (m) => m instanceof Ia3Layer, what: 'IA3 target_modules' });
  const planned = hits.map(([path, module]) => {
    if (module instanceof Ia3Layer) throw new Error(`IA3 target "${path}" already holds an IA3 vector`);
    if (!(module instanceof Linear || module instanceof Conv1D || module instanceof Conv2d)) {
      throw new Error(`IA3 target "${path}" is a ${module.constructor.name}; only Linear, Conv1D and Conv2d layers are supported. Name its Linear or Conv2d children instead.`);
    }
    const ff = isFeedforwardModule(feedforward, path);
    // Input scaling of a grouped conv would scale each group's input channels; its merge is not the per-column product. PEFT does not special-case it either; refuse.
    if (module instanceof Conv2d && module.groups > 1 && ff) {
      throw new Error(`IA3 target "${path}" is a grouped Conv2d (groups=${module.groups}) listed in feedforward_modules; input scaling of a grouped conv is not supported. Leave it out of feedforward_modules (output scaling works) or out of target_modules`);
    }
    return { path, module, feedforward: ff };
  });
  // Saved as PEFT saves them: what the user wrote (or the table's names), not resolved paths.
  const config: Ia3Config = {
    ...cfg,
    target_modules: typeof targets === 'string' ? targets : [...new Set(targets)],
    feedforward_modules: typeof feedforward === 'string' ? feedforward : [...new Set(feedforward)],
    fan_in_fan_out: planned.some((p) => p.module instanceof Conv1D),
  };
  return { config, targets: planned, warnings };
}

/** Passes a plan's warnings on (options.warn, else process.emitWarning). */
export function emitIa3Warnings(plan: Ia3Plan, warn?: (message: string) => void): void {
  for (const w of plan.warnings) (warn ?? ((m: string) => process.emitWarning(m, 'LeantuneIa3Warning')))(w);
}

export function ia3Layers(model: Module): Array<[string, Ia3Layer]> {
  return [...model.namedModules()].filter((e): e is [string, Ia3Layer] => e[1] instanceof Ia3Layer);
}

/** The IA3 vectors on one model: the handle inject returns and the run owns. */
export class Ia3Model implements MethodHandle<Ia3Config> {
  private readonly lifecycle: TunerLifecycle<Ia3Layer>;
  readonly merge: () => void;
  readonly unmerge: () => void;
  readonly mergeAndUnload: () => Module;
  readonly unload: () => Module;
  readonly disable: () => void;
  readonly enable: () => void;

  constructor(readonly model: Module, readonly config: Ia3Config) {
    this.lifecycle = tunerLifecycle(model, (m): m is Ia3Layer => m instanceof Ia3Layer);
    ({ merge: this.merge, unmerge: this.unmerge, mergeAndUnload: this.mergeAndUnload, unload: this.unload, disable: this.disable, enable: this.enable } = this.lifecycle as Required<TunerLifecycle<Ia3Layer>>);
  }

  /** Carries out a plan made by planIa3 on the same model. */
  static apply(model: Module, plan: Ia3Plan, init = plan.config.init_ia3_weights): Ia3Model {
    for (const t of plan.targets) model.setSubmodule(t.path, new Ia3Layer(t.module, t.feedforward, 'default', init));
    return new Ia3Model(model, plan.config);
  }

  trains(path: string): boolean {
    return hasPrefixedSegment('ia3_', path);
  }

  layers(): Array<[string, Ia3Layer]> {
    return this.lifecycle.layers();
  }

  withDisabled<T>(fn: () => T): T {
    return this.lifecycle.withDisabled(fn);
  }

  save(dir: string, options: SaveIa3Options = {}): string {
    return saveIa3(this, dir, options);
  }
}

/** Wraps the targeted layers with IA3 vectors (PEFT's inject_adapter for IA3) and returns the handle. */
export function injectIa3(model: Module, partial: Partial<Ia3Config>, options: InjectIa3Options = {}): Ia3Model {
  const plan = planIa3(model, partial, options);
  emitIa3Warnings(plan, options.warn);
  return Ia3Model.apply(model, plan, options.init);
}
