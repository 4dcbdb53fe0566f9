import { Module, type tf } from '@leantune/tensor';
import { ModuleDict, ParameterDict } from './modules';

/** One adapter's hyperparameters in one layer (after rank_pattern / alpha_pattern). */
export interface AdapterSettings {
  r: number;
  alpha: number;
  scaling: number;
  dropout: number;
  useDora: boolean;
  /** true | false | "gaussian" | "pissa" | "pissa_niter_<n>" (PEFT's init_lora_weights). */
  init: boolean | string;
}

/**
 * What every LoRA layer shares (PEFT's LoraLayer): the original layer as `base_layer`, the
 * adapters' settings, which adapters are active or merged, and how an adapter is deleted
 * or the base layer released. The kinds (Linear/Conv1D, Embedding, Conv2d) add their
 * parameters, forward and delta weight.
 */
export abstract class LoraLayerBase extends Module {
  abstract readonly inFeatures: number;
  abstract readonly outFeatures: number;
  readonly settings = new Map<string, AdapterSettings>();
  activeAdapters: string[];
  disabled = false;
  readonly mergedAdapters: string[] = [];

  constructor(adapterName: string) {
    super();
    this.activeAdapters = [adapterName];
  }

  get merged(): boolean {
    return this.mergedAdapters.length > 0;
  }

  /** Adds (or re-initialises) adapter `name` (PEFT's update_layer). */
  abstract updateLayer(name: string, s: AdapterSettings): void;

  /** Drops adapter `name`'s parameters from every per-adapter dict (lora_A, lora_B, …). */
  protected dropAdapterParameters(name: string): void {
    for (const [dict, child] of [...this.namedChildren()]) {
      if (child instanceof ModuleDict) child.delete(name);
      else if (child instanceof ParameterDict && child.has(name)) this.addModule(dict, child.without(name));
    }
  }

  /** Removes adapter `name`; if it was active, the first remaining adapter becomes active. */
  deleteAdapter(name: string): void {
    if (this.mergedAdapters.includes(name)) this.unmerge();
    this.dropAdapterParameters(name);
    this.settings.delete(name);
    this.activeAdapters = this.activeAdapters.filter((a) => a !== name);
    if (this.activeAdapters.length === 0 && this.settings.size > 0) this.activeAdapters = [[...this.settings.keys()][0]];
  }

  abstract merge(names?: readonly string[]): void;
  abstract unmerge(): void;

  /** Drops every adapter but keeps the base weight as it is now (merged or not); returns the base layer. */
  releaseBase(): Module {
    this.mergedAdapters.length = 0;
    for (const name of this.adapterNames()) this.deleteAdapter(name);
    return this.child<Module>('base_layer')!;
  }

  adapterNames(): string[] {
    return [...this.settings.keys()];
  }

  /** PEFT's forward loop: base(x), then each active adapter's contribution, unless disabled or merged. */
  protected forwardWith(x: tf.Tensor, base: (x: tf.Tensor) => tf.Tensor, contribution: (name: string, s: AdapterSettings, x: tf.Tensor, result: tf.Tensor) => tf.Tensor): tf.Tensor {
    if (this.disabled) {
      if (this.merged) this.unmerge();
      return base(x);
    }
    if (this.merged) return base(x);
    let result = base(x);
    for (const name of this.activeAdapters) {
      const s = this.settings.get(name);
      if (s) result = contribution(name, s, x, result);
    }
    return result;
  }
}
