import type { BackendInfo, tf } from '@leantune/tensor';
import type { ResolvedConfig } from './config/schema';
import type { MethodDefinition } from './methods';
import type { Dataset, DatasetSpec, LoadedModel, Logger } from './types';

/** One per run (Fastify's lesson: fresh context per run, nothing leaks between runs). */
export interface RunContext {
  runName: string;
  config: ResolvedConfig;
  /** The workspace's single tfjs instance, so plugins never bundle their own. */
  tf: typeof tf;
  log: Logger;
  seed: number;
  /** Folder that relative paths in the config resolve against: the config file's, else the cwd. */
  configDir: string;
  /**
   * The run folder once one exists (set when it is created, before training, or when the
   * finished run is saved), so reporters can write beside metrics.jsonl.
   */
  runDir?: string;
  /**
   * The base model once it is loaded (before any method is injected), so dataset stages
   * from ENCODE on can use what it exposes (its tokenizer, its maximum length).
   */
  model?: LoadedModel;
  /** The compute backend the run uses; set when the run prepares its runtime. */
  backend?: BackendInfo;
  /**
   * The class names of the run's dataset (loaded once, through its stages; the run reuses
   * it), or undefined when the config has no data. For loaders whose head needs them.
   */
  datasetLabels(): Promise<string[] | undefined>;
  /**
   * Loads another dataset spec through the run's dataset loaders, without running stages
   * (a stage calling this would otherwise re-enter the stage waterfall). For stages that
   * merge sources, such as data-integrate.
   */
  loadDatasetSpec(spec: DatasetSpec): Promise<Dataset>;
  /** Scratch space shared by plugins during this run, keyed by plugin name. */
  state: Map<string, unknown>;
}

export interface MethodContext<C = Record<string, unknown>> extends RunContext {
  method: MethodDefinition<C>;
  /** The method's validated config, defaults applied. */
  methodConfig: C;
  /** The loaded model's architecture key, to pick default target modules. */
  arch: string;
  /** `method.defaultTargets[arch]`, when the method declares one. */
  defaultTargets: readonly string[] | undefined;
}
