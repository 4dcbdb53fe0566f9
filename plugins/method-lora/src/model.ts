import { Conv1D, Conv2d, Embedding, type Module, type Parameter } from '@leantune/tensor';
import type { MethodHandle } from '@leantune/core';
import { tunerLifecycle, type TunerLifecycle } from '@leantune/peft';
import { checkLoraConfig, layerHyperparameters, resolveLoraConfig, type LoraConfig } from './config';
import { conv2dGroupsError, LoraConv2d, LoraEmbedding, refuseLinearOnly } from './lora-embedding-conv';
import { LoraLinear, type AdapterSettings, type LoraBase } from './lora-linear';
import { ModulesToSaveWrapper } from './modules-to-save';
import { candidateModules, findModulesToSave, findTargetPaths, isLoraLayer, resolveTargets, type AnyLoraLayer } from './targets';
import { saveAdapter, type SaveAdapterOptions } from './peft-io';

export interface InjectOptions {
  adapterName?: string;
  /** Architecture key, for default targets and messages. */
  arch?: string;
  defaultTargets?: readonly string[];
  /** Initialisation override: a load fills A and B from a file, so it skips random inits (but keeps PiSSA, which rewrites the base: see peft-io's rewritesBase). */
  init?: boolean | string;
}

/** One planned replacement: which layer, with which settings. */
export interface PlannedTarget {
  path: string;
  module: LoraBase | Embedding | Conv2d | AnyLoraLayer;
  settings: AdapterSettings;
}

/** in/out features of a target as LoRA sees them (PEFT's in_features/out_features), and the largest rank that makes sense. */
export function loraDims(m: PlannedTarget['module']): { inFeatures: number; outFeatures: number; maxRank: number } {
  if (m instanceof Embedding) return { inFeatures: m.numEmbeddings, outFeatures: m.embeddingDim, maxRank: Math.min(m.numEmbeddings, m.embeddingDim) };
  if (m instanceof Conv2d) {
    const [kh, kw] = m.kernelSize;
    return { inFeatures: m.inChannels, outFeatures: m.outChannels, maxRank: Math.min(m.inChannels * kh * kw, m.outChannels) };
  }
  const base = m instanceof LoraConv2d ? m.baseLayer : undefined;
  if (base) return loraDims(base);
  return { inFeatures: m.inFeatures, outFeatures: m.outFeatures, maxRank: Math.min(m.inFeatures, m.outFeatures) };
}

/** A fresh LoRA layer of the kind the base layer needs (PEFT's dispatch in _create_new_module). */
function createLoraLayer(base: LoraBase | Embedding | Conv2d, name: string, settings: AdapterSettings): AnyLoraLayer {
  if (base instanceof Embedding) return new LoraEmbedding(base, name, settings);
  if (base instanceof Conv2d) return new LoraConv2d(base, name, settings);
  return new LoraLinear(base, name, settings);
}

export interface LoraPlan {
  adapterName: string;
  config: LoraConfig;
  targets: PlannedTarget[];
  modulesToSave: string[];
}

/** Everything inject would do, checked up front; the model is not touched. */
export function planLora(model: Module, partial: Partial<LoraConfig>, options: InjectOptions = {}, existing: ReadonlyMap<string, LoraConfig> = new Map()): LoraPlan {
  const adapterName = options.adapterName ?? 'default';
  if (!/^[A-Za-z0-9_-]+$/.test(adapterName)) throw new Error(`LoRA adapter name "${adapterName}" must be letters, digits, '_' or '-' (it becomes a path segment)`);
  if (existing.has(adapterName)) {
    throw new Error(`LoRA adapter "${adapterName}" already exists on this model; pick another name or deleteAdapter first`);
  }
  const cfg = resolveLoraConfig(partial);
  checkLoraConfig(cfg);
  const targets = resolveTargets(model, cfg, options.arch, options.defaultTargets);
  const paths = findTargetPaths(model, cfg, targets);
  const planned = paths.map((path): PlannedTarget => {
    const module = model.getSubmodule(path) as PlannedTarget['module'];
    const { r, alpha, scaling } = layerHyperparameters(cfg, path);
    const { inFeatures, outFeatures, maxRank } = loraDims(module);
    if (r > maxRank) {
      throw new Error(
        `LoRA rank r=${r} for "${path}" exceeds its dimensions (${inFeatures}→${outFeatures}, at most ${maxRank}); lower r or set rank_pattern {"${path.split('.').pop()}": ${maxRank}}`,
      );
    }
    const settings: AdapterSettings = { r, alpha, scaling, dropout: cfg.lora_dropout, useDora: cfg.use_dora, init: options.init ?? cfg.init_lora_weights };
    checkLayerKind(path, module, settings);
    return { path, module, settings };
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

/** Refusals of the Embedding/Conv2d kinds, checked at plan time so a bad config leaves the model untouched. */
function checkLayerKind(path: string, module: PlannedTarget['module'], s: AdapterSettings): void {
  const kind = module instanceof Embedding || module instanceof LoraEmbedding ? 'Embedding' : module instanceof Conv2d || module instanceof LoraConv2d ? 'Conv2d' : undefined;
  if (!kind) return;
  const base = module instanceof LoraConv2d ? module.baseLayer : module;
  if (base instanceof Conv2d && base.groups > 1) throw new Error(`"${path}": ${conv2dGroupsError(base)}`);
  refuseLinearOnly(`LoRA target "${path}" (${kind})`, kind, s);
}

/** True for parameters LoRA trains: a `lora_*` path segment or a modules_to_save copy. */
export function isLoraParameterPath(path: string): boolean {
  const segments = path.split('.');
  return segments.some((s) => s.startsWith('lora_')) || segments.includes('modules_to_save');
}

type LoraTunerLayer = AnyLoraLayer | ModulesToSaveWrapper;
const isLoraTunerLayer = (m: Module): m is LoraTunerLayer => isLoraLayer(m) || m instanceof ModulesToSaveWrapper;

/**
 * The LoRA adapters on one model and their state, as PEFT's LoraModel keeps `peft_config`
 * and `active_adapter`: the handle `inject` returns and the run owns. Every adapter
 * operation goes through it; nothing is kept at module scope.
 */
export class LoraModel implements MethodHandle<LoraConfig> {
  readonly configs = new Map<string, LoraConfig>();
  private active: string[] = [];
  private readonly lifecycle: TunerLifecycle<LoraTunerLayer>;

  /** The config of the last adapter that was active, kept after unload for the record. */
  private lastConfig?: LoraConfig;

  constructor(readonly model: Module) {
    // One handle owns a model's LoRA layers: a second one would overwrite the first's active adapters.
    if ([...model.namedModules()].some(([, m]) => isLoraTunerLayer(m))) {
      throw new Error('This model already has LoRA adapters, owned by another LoraModel handle: add adapters through that handle (addAdapter, loadAdapter(handle, dir)), or unload it first');
    }
    this.lifecycle = tunerLifecycle(model, isLoraTunerLayer, {
      afterUnload: () => {
        this.lastConfig = this.configs.get(this.active[0]) ?? this.lastConfig;
        this.configs.clear();
        this.active = [];
      },
    });
  }

  /** The first active adapter's config (what a run saves); after unload, the config it had. */
  get config(): LoraConfig {
    if (this.configs.size === 0 && this.lastConfig) return this.lastConfig;
    return this.adapterConfig(this.active[0] ?? 'default');
  }

  /** Everything adding adapter `options.adapterName` would do, checked up front; the model is not touched. */
  plan(partial: Partial<LoraConfig>, options: InjectOptions = {}): LoraPlan {
    return planLora(this.model, partial, options, this.configs);
  }

  /** Carries out a plan made by `plan` (PEFT's inject_adapter). The first adapter becomes active; later ones are added inactive, as add_adapter does. */
  apply(plan: LoraPlan): this {
    for (const t of plan.targets) {
      if (isLoraLayer(t.module)) t.module.updateLayer(plan.adapterName, t.settings);
      else this.model.setSubmodule(t.path, createLoraLayer(t.module, plan.adapterName, t.settings));
    }
    for (const path of plan.modulesToSave) {
      const m = this.model.getSubmodule(path);
      if (m instanceof ModulesToSaveWrapper) m.update(plan.adapterName);
      else this.model.setSubmodule(path, new ModulesToSaveWrapper(m, plan.adapterName));
    }
    this.configs.set(plan.adapterName, plan.config);
    if (this.active.length === 0) this.active = [plan.adapterName];
    // PEFT's _mark_only_adapters_as_trainable: the base is frozen, then the active adapters' parameters train.
    for (const [path, p] of this.model.namedParameters()) if (!isLoraParameterPath(path)) p.requiresGrad = false;
    this.setActive(this.active);
    return this;
  }

  /** plan + apply: adds adapter `options.adapterName` (default "default"); on any error the model is untouched. */
  addAdapter(partial: Partial<LoraConfig>, options: InjectOptions = {}): this {
    return this.apply(this.plan(partial, options));
  }

  trains(path: string, _param?: Parameter): boolean {
    return isLoraParameterPath(path);
  }

  layers(): Array<[string, AnyLoraLayer]> {
    return candidateModules(this.model).filter((e): e is [string, AnyLoraLayer] => isLoraLayer(e[1]));
  }

  savedModuleWrappers(): Array<[string, ModulesToSaveWrapper]> {
    return candidateModules(this.model).filter((e): e is [string, ModulesToSaveWrapper] => e[1] instanceof ModulesToSaveWrapper);
  }

  adapterNames(): string[] {
    return [...this.configs.keys()];
  }

  activeAdapters(): string[] {
    return [...this.active];
  }

  adapterConfig(name = 'default'): LoraConfig {
    this.requireAdapter(name, 'adapterConfig');
    return this.configs.get(name)!;
  }

  private requireAdapter(name: string, what: string): void {
    if (!this.configs.has(name)) {
      throw new Error(`${what}: no LoRA adapter named "${name}". Adapters: ${[...this.configs.keys()].join(', ') || 'none'}`);
    }
  }

  private setActive(names: string[]): void {
    for (const [, layer] of this.layers()) {
      if (layer.merged) layer.unmerge(); // PEFT unmerges (with a warning) before switching
      layer.activeAdapters = names.filter((n) => layer.settings.has(n));
    }
    for (const [, wrapper] of this.savedModuleWrappers()) wrapper.activeAdapter = names[0];
    // PEFT's set_adapter: only the active adapters' parameters require a gradient.
    for (const [path, p] of this.model.namedParameters()) {
      if (!isLoraParameterPath(path)) continue;
      const segments = path.split('.');
      const owner = segments.findIndex((s) => s.startsWith('lora_') || s === 'modules_to_save');
      p.requiresGrad = names.includes(segments[owner + 1]);
    }
  }

  /** Makes `names` the active adapter(s) (PEFT's set_adapter). */
  setAdapter(names: string | string[]): void {
    const list = typeof names === 'string' ? [names] : names;
    for (const n of list) this.requireAdapter(n, 'setAdapter');
    this.active = [...list];
    this.setActive(this.active);
  }

  /** PEFT's mark_only_adapters_as_trainable: base frozen, active adapters trainable. */
  markOnlyAdaptersTrainable(): void {
    this.model.freeze();
    this.setActive(this.active);
  }

  /** Deletes adapter `name`; if it was active, the first remaining adapter becomes active. */
  deleteAdapter(name: string): void {
    this.requireAdapter(name, 'deleteAdapter');
    for (const [, layer] of this.layers()) layer.deleteAdapter(name);
    for (const [, wrapper] of this.savedModuleWrappers()) wrapper.copies.delete(name);
    this.configs.delete(name);
    this.active = this.active.filter((a) => a !== name);
    if (this.active.length === 0 && this.configs.size > 0) this.active = [[...this.configs.keys()][0]];
    this.setActive(this.active);
  }

  /** Runs `fn` with every adapter switched off (PEFT's disable_adapter context), then restores. */
  withAdaptersDisabled<T>(fn: () => T): T {
    return this.lifecycle.withDisabled(fn);
  }

  disable(): void {
    this.lifecycle.disable();
  }

  enable(): void {
    this.lifecycle.enable();
  }

  /** Folds the active adapters into the base weights, keeping the LoRA layers (unmerge undoes it). */
  merge(): void {
    for (const [, layer] of this.layers()) layer.merge();
  }

  unmerge(): void {
    for (const [, layer] of this.layers()) layer.unmerge();
  }

  /**
   * Replaces every LoRA layer by its base layer with the active adapters merged in, and each
   * saved-module wrapper by the active adapter's trained copy (PEFT's merge_and_unload).
   */
  mergeAndUnload(): Module {
    return this.lifecycle.mergeAndUnload!();
  }

  /** Puts the original layers and modules back (PEFT's unload). */
  unload(): Module {
    return this.lifecycle.unload();
  }

  /** Writes adapter `options.adapterName` (default: the first active) as a PEFT folder; returns the folder. */
  save(dir: string, options: SaveAdapterOptions = {}): string {
    const name = options.adapterName ?? this.active[0] ?? 'default';
    return saveAdapter(this, dir, { ...options, adapterName: name });
  }
}

/**
 * Wraps the targeted layers with LoRA adapter `adapterName` (PEFT's get_peft_model) and
 * returns the handle that owns it. On any error the model is left untouched.
 */
export function injectLora(model: Module, config: Partial<LoraConfig>, options: InjectOptions = {}): LoraModel {
  return new LoraModel(model).addAdapter(config, options);
}
