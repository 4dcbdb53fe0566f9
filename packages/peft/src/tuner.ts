import type { Module, Parameter } from '@leantune/tensor';
import type { MethodHandle } from '@leantune/core';

/**
 * A layer a method puts in place of a base layer (PEFT's BaseTunerLayer): it can be
 * bypassed, folded into the base where the method allows, and taken out again.
 */
export interface TunerLayer extends Module {
  disabled: boolean;
  /** Folds the layer into its base weights (only methods whose layer is linear in them). */
  merge?(): void;
  unmerge?(): void;
  /** The base module to put back; frees the layer's own parameters. Called after merge or unmerge. */
  releaseBase(): Module;
}

/** What `tunerLifecycle` gives a method handle: PEFT's BaseTuner loops, written once. */
export interface TunerLifecycle<L extends TunerLayer> {
  /** The method's layers in the model now, by path. */
  layers(): Array<[string, L]>;
  merge?(): void;
  unmerge?(): void;
  mergeAndUnload?(): Module;
  unload(): Module;
  disable(): void;
  enable(): void;
  /** Runs `fn` with every layer bypassed, then restores (PEFT's disable_adapter context). */
  withDisabled<T>(fn: () => T): T;
}

export interface TunerLifecycleOptions {
  /** False for methods whose layers never fold into the base (bottleneck adapters): no merge functions then. */
  mergeable?: boolean;
  /** Runs after the layers are taken out (e.g. to drop the method's own bookkeeping). */
  afterUnload?: (merged: boolean) => void;
}

/**
 * The lifecycle loops over a method's layers in `model`: merge, unmerge, merge-and-unload,
 * unload, disable and enable. Methods compose it into their handle instead of rewriting it.
 */
export function tunerLifecycle<L extends TunerLayer>(model: Module, isLayer: (m: Module) => m is L, options: TunerLifecycleOptions = {}): TunerLifecycle<L> {
  const layers = () => [...model.namedModules()].filter((e): e is [string, L] => isLayer(e[1]));
  const unloadAll = (merge: boolean): Module => {
    for (const [path, layer] of layers()) {
      if (merge) layer.merge?.();
      else layer.unmerge?.();
      model.setSubmodule(path, layer.releaseBase());
    }
    options.afterUnload?.(merge);
    return model;
  };
  const setDisabled = (value: boolean) => {
    for (const [, layer] of layers()) layer.disabled = value;
  };
  const withDisabled = <T>(fn: () => T): T => {
    const all = layers().map(([, l]) => l);
    const before = all.map((l) => l.disabled);
    all.forEach((l) => (l.disabled = true));
    const restore = () => all.forEach((l, i) => (l.disabled = before[i]));
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
  };
  const base: TunerLifecycle<L> = {
    layers,
    unload: () => unloadAll(false),
    disable: () => setDisabled(true),
    enable: () => setDisabled(false),
    withDisabled,
  };
  if (options.mergeable === false) return base;
  return {
    ...base,
    merge: () => layers().forEach(([, l]) => l.merge?.()),
    unmerge: () => layers().forEach(([, l]) => l.unmerge?.()),
    mergeAndUnload: () => unloadAll(true),
  };
}

/**
 * The handle of a selective method (BitFit, LN tuning, a linear probe): it trains existing
 * parameters in place, known by identity so a later method that renames paths (LoRA's
 * base_layer) leaves them trainable; nothing to merge or unload.
 */
export function selectionHandle<C>(config: C, params: Iterable<Parameter>, save?: (dir: string) => void): MethodHandle<C> {
  const selected = new WeakSet(params);
  return { config, trains: (_path, param) => selected.has(param), ...(save ? { save } : {}) };
}
