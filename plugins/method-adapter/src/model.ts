import type { Module } from '@leantune/tensor';
import { resolveAdapterConfig, type AdapterConfig, type AdapterPreset, type ResolvedAdapterConfig } from './config';
import { AdapterLayer, moduleDims } from './bottleneck';
import { hasPrefixedSegment, type MethodHandle } from '@leantune/core';
import { findModules, tunerLifecycle, type TargetSpec, type TunerLifecycle } from '@leantune/peft';
import { saveAdapter, type SaveAdapterOptions } from './io';

/** Where each preset puts adapters, per architecture key: modules to wrap, and ones to leave out. */
export interface Placement {
  attention: string[];
  ffn: string[];
  /** The FFN block as one module (input → output), for parallel adapters. */
  parallel: string[];
}

/**
 * Sub-layer outputs per architecture, by Hugging Face module names. BERT-style models split
 * the FFN into `intermediate` and `output` (which adds the residual and LayerNorm), so there
 * is no single FFN module: parallel adapters sit beside the FFN's `output.dense` there.
 */
export const ADAPTER_PLACEMENTS: Readonly<Record<string, Placement>> = {
  bert: { attention: ['attention.output.dense'], ffn: ['output.dense'], parallel: ['output.dense'] },
  roberta: { attention: ['attention.output.dense'], ffn: ['output.dense'], parallel: ['output.dense'] },
  vit: { attention: ['attention.output.dense'], ffn: ['output.dense'], parallel: ['output.dense'] },
  gpt2: { attention: ['attn.c_proj'], ffn: ['mlp.c_proj'], parallel: ['mlp'] },
  clip: { attention: ['self_attn.out_proj'], ffn: ['mlp.fc2'], parallel: ['mlp'] },
  'use-lite': { attention: ['attention.o'], ffn: ['ffn.fc2'], parallel: ['ffn'] },
};

/** The registry's defaultTargets: the Houlsby placement (both sub-layers). */
export const ADAPTER_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = Object.fromEntries(
  Object.entries(ADAPTER_PLACEMENTS).map(([arch, p]) => [arch, [...p.attention, ...p.ffn]]),
);

/** target/exclude lists of a preset on an architecture. FFN names like "output.dense" also match "attention.output.dense", hence the exclude. */
export function presetTargets(preset: AdapterPreset, placement: Placement): { targets: string[]; exclude: string[] } {
  if (preset === 'houlsby') return { targets: [...placement.attention, ...placement.ffn], exclude: [] };
  return { targets: preset === 'parallel' ? placement.parallel : placement.ffn, exclude: placement.attention };
}

export interface AdapterPlan {
  config: ResolvedAdapterConfig;
  paths: string[];
}

export interface InjectAdapterOptions {
  arch?: string;
  /** The model's default targets: without a placement for `arch`, adapters go after them (Pfeiffer-style). */
  defaultTargets?: readonly string[];
  /** The model's blocks (LoadedModel.blockTargets): without a placement for `arch`, adapters go after them, before defaultTargets. */
  blockTargets?: readonly string[];
  placements?: Readonly<Record<string, Placement>>;
}

/** Everything inject would do, checked up front; the model is not touched. */
export function planAdapter(model: Module, partial: Partial<AdapterConfig>, options: InjectAdapterOptions = {}): AdapterPlan {
  if (adapterLayers(model).length) throw new Error('This model already has bottleneck adapters; unload them first (one adapter set per model)');
  const cfg = resolveAdapterConfig(partial);
  let targets: TargetSpec;
  let exclude: TargetSpec | null = cfg.exclude_modules ?? null;
  const t = cfg.target_modules;
  if (t != null && !(Array.isArray(t) && t.length === 0)) targets = t;
  else {
    const modelTargets = options.blockTargets?.length ? options.blockTargets : options.defaultTargets;
    const fallback = modelTargets?.length ? { attention: [], ffn: [...modelTargets], parallel: [...modelTargets] } : undefined;
    const placement = (options.placements ?? ADAPTER_PLACEMENTS)[options.arch ?? ''] ?? fallback;
    if (!placement) {
      throw new Error(`Adapter target_modules is not set and architecture "${options.arch ?? 'unknown'}" has no default placement. Set target_modules (e.g. ["output.dense"]).`);
    }
    const preset = presetTargets(cfg.config, placement);
    targets = preset.targets;
    exclude = exclude ?? (preset.exclude.length ? preset.exclude : null);
  }
  const hits = findModules(model, { targets, exclude, opaque: (m) => m instanceof AdapterLayer, what: 'Adapter target_modules' });
  // A target inside another target would wrap twice; keep the outer one only.
  const paths = hits.map(([p]) => p).filter((p, _i, all) => !all.some((q) => q !== p && p.startsWith(`${q}.`)));
  for (const p of paths) {
    const m = model.getSubmodule(p);
    if (m instanceof AdapterLayer) throw new Error(`Adapter target "${p}" already holds an adapter`);
    if (!moduleDims(m)) {
      throw new Error(`Adapter target "${p}" is a ${m.constructor.name} with no Linear-like layer, so its width is unknown; target a Linear/Conv1D or a block that contains them`);
    }
  }
  return { config: { ...cfg, target_modules: [...paths].sort(), exclude_modules: typeof exclude === 'string' || exclude === null ? exclude : [...exclude] }, paths };
}

/** True for adapter parameters: a path segment starting with `adapter_`. */
export function isAdapterParameterPath(path: string): boolean {
  return hasPrefixedSegment('adapter_', path);
}

export function adapterLayers(model: Module): Array<[string, AdapterLayer]> {
  return [...model.namedModules()].filter((e): e is [string, AdapterLayer] => e[1] instanceof AdapterLayer);
}

/** The bottleneck adapters on one model: the handle inject returns and the run owns. No merge: see NOT_MERGEABLE. */
export class AdapterModel implements MethodHandle<ResolvedAdapterConfig> {
  private readonly lifecycle: TunerLifecycle<AdapterLayer>;
  readonly notMergeable = NOT_MERGEABLE;

  constructor(readonly model: Module, readonly config: ResolvedAdapterConfig) {
    this.lifecycle = tunerLifecycle(model, (m): m is AdapterLayer => m instanceof AdapterLayer, { mergeable: false });
  }

  /** Wraps every planned module in an AdapterLayer (built first, so a failure leaves the model as it was). */
  static apply(model: Module, plan: AdapterPlan): AdapterModel {
    const layers = plan.paths.map((p) => new AdapterLayer(model.getSubmodule(p), plan.config, p));
    plan.paths.forEach((p, i) => model.setSubmodule(p, layers[i]));
    return new AdapterModel(model, plan.config);
  }

  trains(path: string): boolean {
    return isAdapterParameterPath(path);
  }

  layers(): Array<[string, AdapterLayer]> {
    return this.lifecycle.layers();
  }

  withDisabled<T>(fn: () => T): T {
    return this.lifecycle.withDisabled(fn);
  }

  disable(): void {
    this.lifecycle.disable();
  }

  enable(): void {
    this.lifecycle.enable();
  }

  /** Puts the original modules back and frees the adapters' parameters. */
  unload(): Module {
    return this.lifecycle.unload();
  }

  save(dir: string, options: SaveAdapterOptions = {}): string {
    return saveAdapter(this, dir, options);
  }
}

export function injectAdapter(model: Module, partial: Partial<AdapterConfig>, options: InjectAdapterOptions = {}): AdapterModel {
  return AdapterModel.apply(model, planAdapter(model, partial, options));
}

export const NOT_MERGEABLE =
  'Bottleneck adapters cannot be merged into the base weights: the adapter applies a non-linearity between its down- and up-projection (and may add LayerNorms), so it is not a linear map that folds into the wrapped layer. Keep the adapter layers for inference (load the adapter folder), or unload() them.';
