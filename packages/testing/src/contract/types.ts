import type { Batch, DataRecord, LoadedModel, MethodHandle, Plugin, RegisteredMethod, Run, TrainDriver } from '@leantune/core';
import type { Module, tf } from '@leantune/tensor';

/** The run, method definition and (after inject) handle a SaveLoad works with. */
export interface SaveLoadContext {
  run: Run;
  method: RegisteredMethod;
  /** The method's handle in this run; undefined in a bare-base session. */
  handle?: MethodHandle;
}

/**
 * Saves and restores a method's trained state. Default: the method's own files through its
 * handle (`handle.save`, then the definition's `load` onto a bare base model) when it has
 * both; otherwise the trainable variables in one safetensors file.
 */
export interface SaveLoad {
  save(model: LoadedModel, dir: string, context: SaveLoadContext): unknown | Promise<unknown>;
  /** Returns a new root module when loading replaces it (as a PEFT-style loader may). */
  load(model: LoadedModel, dir: string, context: SaveLoadContext): void | Module | Promise<void | Module>;
  /**
   * What `load` receives: a fresh model with the method already injected (default), or the
   * bare base model, for loaders that inject from their own files (PEFT's `from_pretrained`).
   */
  into?: 'injected' | 'base';
}

/** A config that must be rejected by the method's JSON Schema. */
export interface InvalidConfigCase {
  config: Record<string, unknown>;
  /** The error message must match this (in addition to naming the pointer). */
  message?: RegExp;
  /** Expected JSON pointer; default `/methods/<id>/<key>` when `config` has one key, else `/methods/<id>`. */
  pointer?: string;
}

export interface MethodContractOptions {
  /** The plugin object under test, as its package exports it. */
  plugin: Plugin<any>;
  /** The id of the method it registers (one contract per method). */
  method: string;
  /** Tells several contracts of one method apart in test titles, e.g. "with modules_to_save". */
  label?: string;
  /** A valid config for the fixture model (its `target_modules`, rank, ...). */
  config: Record<string, unknown>;
  /** Runs the training checks: `createTrainDriver()` from @leantune/train. */
  trainer: TrainDriver;
  invalidConfigs?: InvalidConfigCase[];
  /** Default 'tiny-text' (@leantune/testing's tiny classifier, arch "tiny"); or a factory. */
  model?: 'tiny-text' | (() => LoadedModel | Promise<LoadedModel>);
  /** Records for the training checks; default the tiny sentiment set, 48 train / 16 validation. */
  data?: { train: DataRecord[]; validation?: DataRecord[] };
  /** Plugins the method needs besides its own (dependencies, other methods to co-register). */
  plugins?: Array<Plugin<any> | [Plugin<any>, Record<string, unknown>]>;
  /** Options of the plugin under test. */
  pluginOptions?: Record<string, unknown>;
  saveLoad?: SaveLoad;
  /**
   * true: the method must have merge(), and merged outputs must equal unmerged ones. false:
   * the merge check is declared skipped, with `mergeSkipReason` in its title. Default: checked
   * when merge() exists; a method without merge() then fails the check (declare false), so
   * the report never shows a pass that compared nothing.
   */
  mergeable?: boolean;
  /** Why the method cannot merge (shown in the skipped test's title); used with mergeable: false. */
  mergeSkipReason?: string;
  /** The injected model must compute exactly the base model's outputs before training. */
  identityAtInit?: boolean;
  /**
   * The method trains some of the base model's own parameters in place (BitFit's biases, LN
   * tuning's LayerNorms, full fine-tuning, a linear probe's head): those may be trainable and
   * move; every base parameter it leaves frozen must still stay unchanged. Default false.
   */
  trainsBaseParameters?: boolean;
  /** The model output compared by the equality checks; default logits (`module.forward(inputs)`), else `predict`. */
  outputs?: (model: LoadedModel, batch: Batch) => tf.Tensor;
  /** Overrides of the run's `train` section (e.g. `{ learningRate: 0.01 }`); default adamw, lr 0.05, batch 8. */
  train?: Record<string, unknown>;
  /** Steps of the loss check (default 30, at 3 batches per epoch) and the fraction the loss must fall by (default 0.05). */
  loss?: { steps?: number; minRelativeDrop?: number };
  /** Default: save/load and identity 1e-6, merge 1e-5. */
  tolerance?: { saveLoad?: number; merge?: number; identity?: number };
  seed?: number;
  /** Compute backend of the contract's runs; default 'cpu' (deterministic, everywhere). */
  backend?: string;
  /** Called with every check's result, to tabulate counts and figures across methods. */
  onResult?: (result: CheckResult) => void;
}

export type CheckName = 'registration' | 'trainable' | 'identity' | 'save-load' | 'merge' | 'leaks' | 'loss' | 'invalid-configs';

/** What one check found. `ok: false` carries every problem, each naming what to fix. */
export interface CheckResult {
  check: CheckName;
  method: string;
  ok: boolean;
  /** Set when the check does not apply to this method (e.g. merge without merge()). */
  skipped?: string;
  problems: string[];
  /** Figures the check measured (parameter counts, max abs diffs, tensor counts, losses). */
  measured: Record<string, number | string | number[] | string[]>;
}
