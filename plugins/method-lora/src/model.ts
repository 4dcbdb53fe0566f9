import { Conv1D, type Module } from '@leantune/tensor';
import { checkLoraConfig, layerHyperparameters, resolveLoraConfig, type LoraConfig } from './config';
import { LoraLinear, type AdapterSettings, type LoraBase } from './lora-linear';
import { ModulesToSaveWrapper } from './modules-to-save';
import { candidateModules, findModulesToSave, findTargetPaths, resolveTargets } from './targets';

/** Per-model LoRA state, as PEFT keeps `peft_config` and `active_adapter` on its model. */
export interface LoraState {
  configs: Map<string, LoraConfig>;
  active: string[];
}

const states = new WeakMap<Module, LoraState>();

export function loraState(model: Module): LoraState | undefined {
  return states.get(model);
}

function requireState(model: Module, what: string): LoraState {
  const state = states.get(model);
  if (!state) throw new Error(`${what}: this model has no LoRA adapters; inject one first (injectLora or a run with methods.lora)`);
  return state;
}

function requireAdapter(state: LoraState, name: string, what: string): void {
  if (!state.configs.has(name)) {
    throw new Error(`${what}: no adapter named "${name}". Adapters: ${[...state.configs.keys()].join(', ') || 'none'}`);
  }
}

export interface InjectOptions {
  adapterName?: string;
  /** Architecture key, for default targets and messages. */
  arch?: string;
  defaultTargets?: readonly string[];
  /** Initialisation override (a load fills A and B from a file, so it skips PiSSA). */
  init?: boolean | string;
}

/** One planned replacement: which layer, with which settings. */
export interface PlannedTarget {
  path: string;
  module: LoraBase | LoraLinear;
  settings: AdapterSettings;
}

export interface LoraPlan {
  adapterName: string;
  config: LoraConfig;
  targets: PlannedTarget[];
  modulesToSave: string[];
}

/** Everything inject would do, checked up front; the model is not touched. */
export function planLora(model: Module, partial: Partial<LoraConfig>, options: InjectOptions = {}): LoraPlan {
  const adapterName = options.adapterName ?? 'default';
  if (!/^[A-Za-z0-9_-]+$/.test(adapterName)) throw new Error(`LoRA adapter name "${adapterName}" must be letters, digits, '_' or '-' (it becomes a path segment)`);
  if (states.get(model)?.configs.has(adapterName)) {
    throw new Error(`LoRA adapter "${adapterName}" already exists on this model; pick another name or deleteAdapter first`);
  }
  const cfg = resolveLoraConfig(partial);
  checkLoraConfig(cfg);
  const targets = resolveTargets(model, cfg, options.arch, options.defaultTargets);
  const paths = findTargetPaths(model, cfg, targets);
  const planned = paths.map((path): PlannedTarget => {
    const module = model.getSubmodule(path) as LoraBase | LoraLinear;
    const { r, alpha, scaling } = layerHyperparameters(cfg, path);
    const maxRank = Math.min(module.inFeatures, module.outFeatures);
    if (r > maxRank) {
      throw new Error(
        `LoRA rank r=${r} for "${path}" exceeds its dimensions (${module.inFeatures}→${module.outFeatures}, at most ${maxRank}); lower r or set rank_pattern {"${path.split('.').pop()}": ${maxRank}}`,
      );
    }
    return { path, module, settings: { r, alpha, scaling, dropout: cfg.lora_dropout, useDora: cfg.use_dora, init: options.init ?? cfg.init_lora_weights } };
  });
  const modulesToSave = cfg.modules_to_save?.length ? findModulesToSave(model, cfg.modules_to_save) : [];
  const isConv1D = (m: Module) => m instanceof Conv1D || (m instanceof LoraLinear && m.fanInFanOut);
  // PEFT rewrites fan_in_fan_out to match the layer type it meets (and warns); so do we.
  const config: LoraConfig = {
    ...cfg,
    target_modules: typeof targets === 'string' ? targets : [...new Set(targets)].sort(),
    fan_in_fan_out: planned.some((t) => isConv1D(t.module)),
  };
  return { adapterName, config, targets: planned, modulesToSave };
}

/** Carries out a plan made by planLora on the same model. */
export function applyPlan(model: Module, plan: LoraPlan): Module {
  const state = states.get(model) ?? { configs: new Map(), active: [plan.adapterName] };
  for (const t of plan.targets) {
    if (t.module instanceof LoraLinear) t.module.updateLayer(plan.adapterName, t.settings);
    else model.setSubmodule(t.path, new LoraLinear(t.module, plan.adapterName, t.settings));
  }
  for (const path of plan.modulesToSave) {
    const m = model.getSubmodule(path);
    if (m instanceof ModulesToSaveWrapper) m.update(plan.adapterName);
    else model.setSubmodule(path, new ModulesToSaveWrapper(m, plan.adapterName));
  }
  state.configs.set(plan.adapterName, plan.config);
  states.set(model, state);
  // PEFT's _mark_only_adapters_as_trainable: the base is frozen, then setActive unfreezes
  // the active adapters' parameters. (In a Run, selectTrainable decides afterwards anyway.)
  for (const [path, p] of model.namedParameters()) if (!isLoraParameterPath(path)) p.requiresGrad = false;
  setActive(model, state.active);
  return model;
}

/**
 * Wraps the targeted layers with LoRA adapter `adapterName` (PEFT's inject_adapter). The
 * first adapter becomes active; later ones are added inactive, as PEFT's add_adapter does.
 * On any error the model is left untouched.
 */
export function injectLora(model: Module, config: Partial<LoraConfig>, options: InjectOptions = {}): Module {
  return applyPlan(model, planLora(model, config, options));
}

export function loraLayers(model: Module): Array<[string, LoraLinear]> {
  return candidateModules(model).filter((e): e is [string, LoraLinear] => e[1] instanceof LoraLinear);
}

export function savedModuleWrappers(model: Module): Array<[string, ModulesToSaveWrapper]> {
  return candidateModules(model).filter((e): e is [string, ModulesToSaveWrapper] => e[1] instanceof ModulesToSaveWrapper);
}

/** True for parameters LoRA trains: a `lora_*` path segment or a modules_to_save copy. */
export function isLoraParameterPath(path: string): boolean {
  const segments = path.split('.');
  return segments.some((s) => s.startsWith('lora_')) || segments.includes('modules_to_save');
}

function setActive(model: Module, names: string[]): void {
  for (const [, layer] of loraLayers(model)) {
    if (layer.merged) layer.unmerge(); // PEFT unmerges (with a warning) before switching
    layer.activeAdapters = names.filter((n) => layer.settings.has(n));
  }
  for (const [, wrapper] of savedModuleWrappers(model)) wrapper.activeAdapter = names[0];
  // PEFT's set_adapter: only the active adapters' parameters require a gradient.
  for (const [path, p] of model.namedParameters()) {
    if (!isLoraParameterPath(path)) continue;
    const segments = path.split('.');
    const owner = segments.findIndex((s) => s.startsWith('lora_') || s === 'modules_to_save');
    p.requiresGrad = names.includes(segments[owner + 1]);
  }
}

/** Makes `names` the active adapter(s) (PEFT's set_adapter). */
export function setAdapter(model: Module, names: string | string[]): void {
  const state = requireState(model, 'setAdapter');
  const list = typeof names === 'string' ? [names] : names;
  for (const n of list) requireAdapter(state, n, 'setAdapter');
  state.active = [...list];
  setActive(model, state.active);
}

/** PEFT's mark_only_adapters_as_trainable for standalone use: base frozen, active adapters trainable. */
export function markOnlyAdaptersTrainable(model: Module): void {
  const state = requireState(model, 'markOnlyAdaptersTrainable');
  model.freeze();
  setActive(model, state.active);
}

/** Runs `fn` with every adapter switched off (PEFT's disable_adapter context), then restores. */
export function withAdaptersDisabled<T>(model: Module, fn: () => T): T {
  const layers = [...loraLayers(model).map(([, l]) => l), ...savedModuleWrappers(model).map(([, w]) => w)];
  const before = layers.map((l) => l.disabled);
  layers.forEach((l) => (l.disabled = true));
  const restore = () => layers.forEach((l, i) => (l.disabled = before[i]));
  let result: T;
  try {
    result = fn();
  } catch (err) {
    restore();
    throw err;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
}

/** Deletes adapter `name`; if it was active, the first remaining adapter becomes active. */
export function deleteAdapter(model: Module, name: string): void {
  const state = requireState(model, 'deleteAdapter');
  requireAdapter(state, name, 'deleteAdapter');
  for (const [, layer] of loraLayers(model)) layer.deleteAdapter(name);
  for (const [, wrapper] of savedModuleWrappers(model)) wrapper.copies.delete(name);
  state.configs.delete(name);
  state.active = state.active.filter((a) => a !== name);
  if (state.active.length === 0 && state.configs.size > 0) state.active = [[...state.configs.keys()][0]];
  setActive(model, state.active);
}

/** Folds the active adapters into the base weights, keeping the LoRA layers (unmerge undoes it). */
export function mergeAdapter(model: Module): void {
  requireState(model, 'mergeAdapter');
  for (const [, layer] of loraLayers(model)) layer.merge();
}

export function unmergeAdapter(model: Module): void {
  for (const [, layer] of loraLayers(model)) layer.unmerge();
}

/**
 * Replaces every LoRA layer by its base layer (with the active adapters merged in when
 * `merge`), and each saved-module wrapper by the active adapter's trained copy: PEFT's
 * merge_and_unload / unload. Returns the same root.
 */
function unloadAll(model: Module, merge: boolean): Module {
  const state = requireState(model, merge ? 'mergeAndUnload' : 'unload');
  for (const [path, layer] of loraLayers(model)) {
    if (merge) layer.merge();
    else layer.unmerge();
    model.setSubmodule(path, layer.releaseBase());
  }
  for (const [path, wrapper] of savedModuleWrappers(model)) {
    const keep = merge ? wrapper.current() : wrapper.originalModule;
    model.setSubmodule(path, keep);
    for (const name of wrapper.copies.keys()) if (wrapper.copies.get(name) !== keep) wrapper.copies.delete(name);
    if (keep !== wrapper.originalModule) wrapper.originalModule.dispose();
  }
  state.configs.clear();
  states.delete(model);
  return model;
}

export function mergeAndUnload(model: Module): Module {
  return unloadAll(model, true);
}

export function unload(model: Module): Module {
  return unloadAll(model, false);
}

export function activeAdapters(model: Module): string[] {
  return [...(states.get(model)?.active ?? [])];
}

export function adapterConfig(model: Module, name = 'default'): LoraConfig {
  const state = requireState(model, 'adapterConfig');
  requireAdapter(state, name, 'adapterConfig');
  return state.configs.get(name)!;
}
