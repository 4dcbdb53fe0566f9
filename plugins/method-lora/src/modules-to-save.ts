import { Module } from '@leantune/tensor';
import { ModuleDict } from './modules';

/**
 * PEFT's ModulesToSaveWrapper: keeps the frozen `original_module` and a trainable copy per
 * adapter under `modules_to_save.<adapter>`, and forwards through the active adapter's
 * copy. Saved files drop the `modules_to_save.<adapter>` part (see peft-io.ts).
 */
export class ModulesToSaveWrapper extends Module {
  activeAdapter: string;
  disabled = false;
  /** Set by merge: taking the wrapper out keeps the trained copy (merge_and_unload) instead of the original (unload). */
  private keepCopy = false;

  constructor(original: Module, adapterName: string) {
    super();
    this.addModule('original_module', original);
    this.addModule('modules_to_save', new ModuleDict());
    this.activeAdapter = adapterName;
    this.update(adapterName);
  }

  get originalModule(): Module {
    return this.child('original_module')!;
  }

  get copies(): ModuleDict {
    return this.child<ModuleDict>('modules_to_save')!;
  }

  /** Adds a trainable copy for `adapterName` (if absent) and freezes the original. */
  update(adapterName: string): void {
    if (!this.copies.has(adapterName)) {
      // copy.deepcopy in PEFT: fresh variables, same values.
      const copy = this.originalModule.clone();
      copy.unfreeze();
      this.copies.set(adapterName, copy);
    }
    this.originalModule.freeze();
  }

  /** The module the forward goes through now. */
  current(): Module {
    if (this.disabled) return this.originalModule;
    return this.copies.get(this.activeAdapter) ?? this.originalModule;
  }

  merge(): void {
    this.keepCopy = true;
  }

  unmerge(): void {
    this.keepCopy = false;
  }

  /** The module to put back: the active trained copy after merge, else the original; the others are freed. */
  releaseBase(): Module {
    const keep = this.keepCopy ? this.current() : this.originalModule;
    for (const name of this.copies.keys()) {
      if (this.copies.get(name) === keep) this.copies.take(name);
      else this.copies.delete(name);
    }
    if (keep !== this.originalModule) this.originalModule.dispose();
    return keep;
  }

  forward(...inputs: unknown[]): unknown {
    return this.current().forward(...inputs);
  }
}
