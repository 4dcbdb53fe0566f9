import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import {
  ConfigError,
  RunError,
  errorMessage,
  type LoadedModel,
  type Logger,
  type ModelSpec,
  type RegisteredMethod,
  type ResolvedConfig,
  type Run,
  type Toolkit,
} from '@leantune/core';
import { RUN_FILES, isRunFolder, readRunFolder } from './run-folder';
import { loadWithModulesToSave } from '@leantune/peft';
import { readSplitRecord, type SplitRecord } from './split-record';
import { loadSafetensors, tf } from '@leantune/tensor';
import { toolkitFor, toolkitForRunFolder } from './toolkit';

/** An adapter folder to load onto the base model; `method` when its files do not say. */
export interface AdapterRef {
  dir: string;
  method?: string;
}

export interface LoadTrainedOptions {
  /** A run folder from `leantune train`: the base model, its methods and trained weights. */
  run?: string;
  /** Adapter folders (a method's own files, e.g. PEFT) or run folders, loaded in order. */
  adapters?: AdapterRef[];
  /** Config file naming the base model and plugins (when there is no run folder). */
  config?: string;
  /** Base model spec (with the installed plugins, or those of `config`). */
  model?: ModelSpec;
  /**
   * Replaces the config's dataset, for evaluation on other data. Without its own "stages"
   * it takes the trained run's stages (so the same split fractions and seed apply).
   */
  data?: { name: string; stages?: NonNullable<ResolvedConfig['data']>['stages']; [option: string]: unknown };
  cwd?: string;
  log?: Logger;
  /** Use this toolkit's plugins instead of resolving the run's (for runs trained from code with plugin objects). */
  toolkit?: Toolkit;
}

export interface TrainedModel {
  toolkit: Toolkit;
  run: Run;
  model: LoadedModel;
  config: ResolvedConfig;
  /** Where it came from, for messages: the run folder, adapters, or the model spec. */
  origin: string;
  /** Methods whose adapter folders were loaded on top (beyond the config's methods). */
  adapters: string[];
  /** The splits the model was trained with (splits.json of its run folder, or of the run an adapter folder was saved in). */
  split?: { file: string; record: SplitRecord };
  /** True when the data is not the run's own (--data). */
  dataGiven?: boolean;
}

/** A folder written by `leantune merge`: merged.json beside the merged weights. */
export const MERGED_RECORD = 'leantune-merged.json';

export interface MergedRecord {
  format: 'leantune-merged';
  version: 1;
  model: ModelSpec;
  labels?: string[];
  plugins: ResolvedConfig['plugins'];
  configDir: string;
  merged: string[];
  /** The weights file, relative to the folder (HF layout: model.safetensors). */
  weights: string;
  /** True when the folder is itself a checkpoint its loader reads (HF layout). */
  native: boolean;
}

function readMerged(dir: string): MergedRecord | undefined {
  const file = join(dir, MERGED_RECORD);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as MergedRecord;
}

/** The method whose files are in `dir`: the one named, or the only one that recognizes them. */
function methodFor(toolkit: Toolkit, ref: AdapterRef): RegisteredMethod {
  const loaders = toolkit.methods.list().filter((m) => m.load);
  if (ref.method) {
    const m = toolkit.methods.get(ref.method);
    if (!m?.load) throw new ConfigError(`Method "${ref.method}" cannot load adapter folders; methods that can: ${loaders.map((x) => x.id).join(', ') || 'none (enable a method plugin)'}`);
    return m;
  }
  const hits = loaders.filter((m) => m.recognizes?.(ref.dir));
  if (hits.length === 1) return hits[0];
  if (hits.length === 0) {
    throw new ConfigError(`${ref.dir} holds no adapter files that an enabled method recognizes (methods that load adapters: ${loaders.map((x) => x.id).join(', ') || 'none'}). Pass "<method>:<dir>", e.g. lora:${ref.dir}.`);
  }
  throw new ConfigError(`${ref.dir} is recognized by several methods (${hits.map((m) => m.id).join(', ')}); pass "<method>:<dir>".`);
}

/** One adapter folder loaded: its method, and the parameters its modules_to_save restored (a head). */
export interface LoadedAdapter {
  method: string;
  restored: string[];
}

/**
 * Loads one adapter folder onto the model, with the modules saved beside the method's own
 * tensors (heads); a folder that does not fit leaves the model unchanged and says why.
 */
export async function loadAdapterInto(toolkit: Toolkit, run: Run, ref: AdapterRef): Promise<LoadedAdapter> {
  const model = run.model!;
  const dir = resolve(ref.dir);
  if (!existsSync(dir)) throw new ConfigError(`Adapter folder ${dir} does not exist.`);
  const method = methodFor(toolkit, { ...ref, dir });
  try {
    const { result: handle, restored } = await loadWithModulesToSave(model.module, dir, (from) => method.load!(model, from));
    run.adopt(method.id, method, handle, 'adapter');
    return { method: method.id, restored };
  } catch (err) {
    throw new RunError(`Adapter ${dir} (method ${method.id}) does not fit model "${model.name}" (arch ${model.arch}): ${errorMessage(err)}. Was it trained on another base model?`, { cause: err });
  }
}

/**
 * transformers warns when a head is newly initialised; so do we, after every adapter has
 * loaded: a fresh parameter nothing restored gives random outputs.
 */
function warnFresh(model: LoadedModel, restored: ReadonlySet<string>, origin: string, log: Logger | undefined): void {
  const fresh = (model.freshParameters ?? []).filter((p) => !restored.has(p));
  if (!fresh.length) return;
  const message =
    `${fresh.length} parameter${fresh.length === 1 ? ' is' : 's are'} newly initialised and no adapter restored ${fresh.length === 1 ? 'it' : 'them'}: ${fresh.join(', ')}. ` +
    `Outputs of ${origin} depend on random weights there; load the run folder, or an adapter saved with its head (modules_to_save).`;
  (log ?? console).warn(message);
}

/** Assigns a run folder's trainable.safetensors; every key must name a parameter of the rebuilt model. */
function loadTrainable(model: LoadedModel, file: string): void {
  const { tensors } = loadSafetensors(file);
  try {
    const own = new Set([...model.module.namedParameters()].map(([p]) => p));
    const unexpected = [...tensors.keys()].filter((k) => !own.has(k));
    if (unexpected.length) throw new RunError(`${file} does not fit model "${model.name}": it holds ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}, which the model has not. Was the run folder moved to another model or plugin version?`);
    model.module.loadStateDict(tensors, { source: file });
  } finally {
    tf.dispose([...tensors.values()]);
  }
}

/** The run folder an adapter was saved in: the folder itself, or <run>/adapters/<id>. */
function runFolderOf(dir: string): string | undefined {
  if (isRunFolder(dir)) return dir;
  const run = dirname(dirname(dir));
  return basename(dirname(dir)) === RUN_FILES.adapters && isRunFolder(run) ? run : undefined;
}

/** The run's recorded splits, when it has them (run folders from before splits.json have none). */
function splitOf(runDir: string | undefined): TrainedModel['split'] {
  const record = runDir ? readSplitRecord(runDir) : undefined;
  return record && runDir ? { file: join(runDir, RUN_FILES.splits), record } : undefined;
}

/** --data without stages takes the trained run's stages: the same split fractions and seed. */
function dataFor(options: LoadTrainedOptions, runConfig: ResolvedConfig | undefined): ResolvedConfig['data'] | undefined {
  if (!options.data) return undefined;
  return { ...options.data, name: options.data.name, stages: options.data.stages ?? structuredClone(runConfig?.data?.stages ?? {}) };
}

/** Rebuilds a model from a config: the loader, then (for run folders) the methods' injection. */
async function buildRun(toolkit: Toolkit, config: ResolvedConfig, configDir: string, labels: string[] | undefined): Promise<{ run: Run; model: LoadedModel }> {
  const run = toolkit.createRun(config, { configDir });
  // Saved class names stand in for the dataset's: no need to load the data to rebuild the head.
  if (labels) run.context.datasetLabels = async () => [...labels];
  return { run, model: await run.loadModel() };
}

/**
 * The model to evaluate, predict or generate with: a run folder's trained model, a base
 * model with adapter folders loaded, or a merged folder. Nothing on disk changes.
 */
export async function loadTrainedModel(options: LoadTrainedOptions): Promise<TrainedModel> {
  const cwd = options.cwd ?? process.cwd();
  let result: TrainedModel;
  if (options.run) {
    const folder = readRunFolder(resolve(cwd, options.run));
    if (!folder.trainable) throw new ConfigError(`Run ${folder.dir} has no trained weights (${folder.record.status}); finish it with "leantune train --resume ${folder.dir}".`);
    const loaded = options.toolkit
      ? { toolkit: options.toolkit, config: options.toolkit.resolveConfig(structuredClone(folder.config)), configDir: folder.record.configDir }
      : await toolkitForRunFolder(folder, options.log);
    const data = dataFor(options, folder.config);
    const config = { ...loaded.config, ...(data ? { data } : {}) };
    const { run, model } = await buildRun(loaded.toolkit, config, loaded.configDir, folder.record.labels);
    loadTrainable(model, folder.trainable);
    result = { toolkit: loaded.toolkit, run, model, config: run.config, origin: folder.dir, adapters: [], split: splitOf(folder.dir), dataGiven: !!data };
  } else {
    const modelDir = options.model && resolve(cwd, options.model.name);
    const merged = modelDir && readMerged(modelDir);
    if (merged) return loadMerged(modelDir, merged, options);
    const { toolkit, loaded } = await toolkitFor({ config: options.config, cwd, log: options.log });
    const base = loaded?.config;
    const spec = options.model ?? base?.model;
    if (!spec) throw new ConfigError('Name the base model: a run folder, -c <config>, or --model <name|folder>.');
    // The run an adapter came from knows the split it trained with.
    const trainedIn = (options.adapters ?? []).map((ref) => runFolderOf(resolve(cwd, ref.dir))).find((d) => d !== undefined);
    const data = dataFor(options, trainedIn ? readRunFolder(trainedIn).config : base);
    const config = toolkit.resolveConfig({ ...(base ? structuredClone(base) : {}), model: spec, methods: {}, trainable: [], ...(data ? { data } : {}) });
    const { run, model } = await buildRun(toolkit, config, loaded?.configDir ?? cwd, undefined);
    result = { toolkit, run, model, config, origin: `model ${spec.name}`, adapters: [], split: splitOf(trainedIn), dataGiven: !!data };
  }
  const loadedAdapters: LoadedAdapter[] = [];
  for (const ref of options.adapters ?? []) {
    const dir = resolve(cwd, ref.dir);
    if (isRunFolder(dir)) {
      const folder = readRunFolder(dir);
      const entries = Object.entries(folder.record.adapters);
      if (!entries.length) throw new ConfigError(`Run ${dir} saved no adapter files (its methods ${folder.record.methods.join(', ') || 'none'} have no own format); give the run folder itself instead of --adapter.`);
      for (const [method, rel] of entries) loadedAdapters.push(await loadAdapterInto(result.toolkit, result.run, { dir: join(dir, rel), method }));
    } else {
      loadedAdapters.push(await loadAdapterInto(result.toolkit, result.run, { ...ref, dir }));
    }
  }
  result.adapters.push(...loadedAdapters.map((a) => a.method));
  if (!options.run) warnFresh(result.model, new Set(loadedAdapters.flatMap((a) => a.restored)), result.origin, options.log);
  return result;
}

async function loadMerged(dir: string, record: MergedRecord, options: LoadTrainedOptions): Promise<TrainedModel> {
  const folder = { dir, config: { plugins: record.plugins, model: record.model } as ResolvedConfig, record: { configDir: record.configDir } } as Parameters<typeof toolkitForRunFolder>[0];
  const loaded = await toolkitForRunFolder(folder, options.log);
  const { path: _path, ...rest } = record.model;
  const spec = record.native ? { ...rest, name: dir } : record.model;
  const config = loaded.toolkit.resolveConfig({ ...loaded.config, model: spec, ...(options.data ? { data: dataFor(options, undefined) } : {}) });
  const { run, model } = await buildRun(loaded.toolkit, config, loaded.configDir, record.labels);
  if (!record.native) loadTrainable(model, join(dir, record.weights));
  return { toolkit: loaded.toolkit, run, model, config, origin: dir, adapters: [] };
}
