import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, RunError, errorMessage, saveSafetensorsAtomic, writeJson } from '@leantune/core';
import type { ResolvedConfig } from '@leantune/core';
import type { Run } from '@leantune/core';
import { CORE_VERSION } from '@leantune/core';
import type { Artifacts, Metrics } from '@leantune/core';
import { saveModulesToSave } from '@leantune/peft';
import { SPLIT_RECORD_FILE, splitRecordOf } from './split-record';

/** Where the numbers came from: backend, threads, versions. */
export function environment(run: Run): Record<string, unknown> {
  return {
    backend: run.context.backend,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    core: CORE_VERSION,
    plugins: run.toolkit.plugins.map(({ plugin }) => `${plugin.meta.name}@${plugin.meta.version}`),
    // The code that ran: each plugin's real file and the package it belongs to (from that package's own package.json).
    pluginFiles: run.toolkit.plugins.map(({ plugin, origin }) => ({
      name: plugin.meta.name,
      version: plugin.meta.version,
      file: origin?.file ?? null,
      package: origin?.package ? `${origin.package.name}@${origin.package.version}` : null,
    })),
  };
}

function timestamp(date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

/** File names inside a run folder, by role. */
export const RUN_FILES = Object.freeze({
  config: 'config.json',
  environment: 'environment.json',
  metrics: 'metrics.json',
  history: 'metrics.jsonl',
  trainable: 'trainable.safetensors',
  record: 'run.json',
  dataReports: 'data-reports.json',
  splits: SPLIT_RECORD_FILE,
  checkpoints: 'checkpoints',
  adapters: 'adapters',
});

/** run.json: what a later `eval`, `predict` or `merge` needs to rebuild the trained model. */
export interface RunRecord {
  format: 'leantune-run';
  version: 1;
  name: string;
  /** running: training or killed hard; interrupted: stopped by a signal with a checkpoint; failed: see `error`; completed. */
  status: 'running' | 'interrupted' | 'failed' | 'completed';
  /** Why a failed run failed. */
  error?: string;
  /** Where the config's relative plugin paths resolve from. */
  configDir: string;
  model?: string;
  arch?: string;
  loader?: string;
  /** Class names of the trained head, so the model is rebuilt without loading the dataset. */
  labels?: string[];
  methods: string[];
  /** Method id → folder (relative to the run folder) holding its files in the method's own format. */
  adapters: Record<string, string>;
  step?: number;
}

function recordOf(run: Run, status: RunRecord['status'], adapters: Record<string, string> = {}, step?: number): RunRecord {
  return {
    format: 'leantune-run',
    version: 1,
    name: run.config.name,
    status,
    configDir: run.context.configDir,
    model: run.model?.name,
    arch: run.model?.arch,
    loader: run.model?.loader,
    labels: run.model?.labels,
    methods: Object.keys(run.config.methods),
    adapters,
    step,
  };
}


/** A new run folder's path: `<baseDir>/<output.dir>/<timestamp>-<name>`. */
export function runFolderPath(run: Run, baseDir = process.cwd()): string {
  return resolve(baseDir, run.config.output.dir, `${timestamp()}-${run.config.name}`);
}

/**
 * Creates the run folder before training (so checkpoints and the metrics history have a
 * home) with the config, the environment and a run.json saying "running". Fails naming
 * the folder when it cannot be written.
 */
export function createRunFolder(run: Run, dir: string): string {
  try {
    mkdirSync(dir, { recursive: true });
    writeJson(join(dir, RUN_FILES.config), run.config);
    writeJson(join(dir, RUN_FILES.environment), environment(run));
    if (run.dataset) writeJson(join(dir, RUN_FILES.splits), splitRecordOf(run.dataset, run.config));
    writeJson(join(dir, RUN_FILES.record), recordOf(run, 'running'));
  } catch (err) {
    throw new RunError(`Cannot write the run folder ${dir}: ${errorMessage(err)}. Choose a writable "output.dir" (or free some disk space).`, { cause: err });
  }
  run.context.runDir = dir;
  return dir;
}

/**
 * Removes what a killed process left halfway through its atomic writes: temp files and folders
 * (names with ".tmp": checkpoints being built, `latest` or metrics being replaced, adapter
 * folders being saved) in the run folder, checkpoints/ and adapters/. Returns their paths.
 * Only for a folder no process is writing to (a resume).
 */
export function removeTempLeftovers(dir: string): string[] {
  const removed: string[] = [];
  for (const folder of [dir, join(dir, RUN_FILES.checkpoints), join(dir, RUN_FILES.adapters)]) {
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder)) {
      if (!name.includes('.tmp')) continue;
      rmSync(join(folder, name), { recursive: true, force: true });
      removed.push(join(folder, name));
    }
  }
  return removed;
}

/** Marks a run folder as stopped by a signal at `step`, its checkpoint saved. */
export function markRunInterrupted(run: Run, dir: string, step: number): void {
  const previous = readRunRecord(dir);
  writeJson(join(dir, RUN_FILES.record), { ...recordOf(run, 'interrupted', previous?.adapters, step) });
}

/**
 * Marks a run folder as failed with the error's message, so a failed run never looks alive.
 * Never throws: it runs while another error is on its way out.
 */
export function markRunFailed(run: Run, dir: string, error: unknown, step?: number): void {
  try {
    const previous = readRunRecord(dir);
    writeJson(join(dir, RUN_FILES.record), { ...recordOf(run, 'failed', previous?.adapters, step), error: errorMessage(error) });
  } catch {
    /* the folder itself is unwritable: the error being reported already says so */
  }
}

/** Trained parameters that no enabled method owns (e.g. a new head trained through `trainable`). */
function trainedOutsideMethods(run: Run): string[] {
  return [...run.model!.module.namedParameters()]
    .filter(([path, param]) => param.requiresGrad && !run.methods.some(({ handle }) => handle.trains(path, param)))
    .map(([path]) => path);
}

/**
 * Each enabled method that can save writes its own files into adapters/<id>/, through a
 * temp folder renamed into place, so a failed save leaves no half folder. Trained modules
 * that belong to no method travel with each folder as modules_to_save (modules-to-save.ts).
 */
async function saveAdapters(run: Run, dir: string): Promise<Record<string, string>> {
  const model = run.model!;
  const out: Record<string, string> = {};
  const extra = trainedOutsideMethods(run);
  for (const { id, method, handle } of run.methods.filter((m) => m.from === 'config')) {
    if (!handle.save) continue;
    const rel = join(RUN_FILES.adapters, id);
    const target = join(dir, rel);
    const tmp = join(dir, RUN_FILES.adapters, `.tmp-${id}-${process.pid}`);
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      await handle.save(tmp);
      saveModulesToSave(model.module, tmp, extra, { taskType: model.taskType });
      rmSync(target, { recursive: true, force: true });
      renameSync(tmp, target);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw new RunError(`Method "${id}" (${method.plugin}) could not save its files into ${target}: ${errorMessage(err)}`, { cause: err });
    }
    out[id] = rel;
  }
  return out;
}

export interface SaveRunFolderOptions {
  /** An existing run folder (from createRunFolder); default a new `<output.dir>/<timestamp>-<name>`. */
  dir?: string;
  /** More of the run's report for metrics.json beside the metrics (best and last evaluation, test split). */
  report?: Record<string, unknown>;
}

/**
 * The run folder `<output.dir>/<timestamp>-<name>`: the resolved config, the metrics, the
 * trained parameters (only those that trained: the adapter, not the frozen base), each
 * method's own files (adapters/<id>/), the data stages' reports and run.json. Without
 * `options.dir` it is created only here, after training, so a run that fails validation
 * writes nothing. Every file goes through a temp file and a rename.
 */
export async function saveRunFolder(run: Run, metrics: Metrics, baseDir = process.cwd(), options: SaveRunFolderOptions = {}): Promise<Artifacts> {
  const model = run.model;
  if (!model) throw new RunError('Nothing to save: the run has no model loaded.');
  const dir = options.dir ?? runFolderPath(run, baseDir);
  run.context.runDir = dir;
  try {
    mkdirSync(dir, { recursive: true });
    const files: Record<string, string> = {
      config: join(dir, RUN_FILES.config),
      metrics: join(dir, RUN_FILES.metrics),
      environment: join(dir, RUN_FILES.environment),
      trainable: join(dir, RUN_FILES.trainable),
      record: join(dir, RUN_FILES.record),
    };
    writeJson(files.config, run.config);
    writeJson(files.environment, environment(run));
    writeJson(files.metrics, { ...metrics, ...options.report });
    if (run.dataset) {
      files.dataReports = join(dir, RUN_FILES.dataReports);
      writeJson(files.dataReports, run.dataset.reports);
      files.splits = join(dir, RUN_FILES.splits);
      writeJson(files.splits, splitRecordOf(run.dataset, run.config));
    }
    const methods = Object.keys(run.config.methods).join(',');
    saveSafetensorsAtomic(files.trainable, model.module.trainableVariables(), { model: model.name, arch: model.arch, methods });
    const adapters = await saveAdapters(run, dir);
    for (const [id, rel] of Object.entries(adapters)) files[`adapter:${id}`] = join(dir, rel);
    writeJson(files.record, recordOf(run, 'completed', adapters, typeof metrics.steps === 'number' ? metrics.steps : undefined));
    const artifacts: Artifacts = { dir, files };
    await run.save(artifacts);
    return artifacts;
  } catch (err) {
    if (err instanceof RunError) throw err;
    throw new RunError(`Could not write the run folder ${dir}: ${errorMessage(err)}`, { cause: err });
  }
}

/** run.json of a run folder, or undefined for folders written before it existed. */
export function readRunRecord(dir: string): RunRecord | undefined {
  const file = join(dir, RUN_FILES.record);
  if (!existsSync(file)) return undefined;
  const record = readJsonFile(file) as Partial<RunRecord>;
  if (record.format !== 'leantune-run') throw new ConfigError(`${file} is not a leantune run record (format ${JSON.stringify(record.format)}); is ${dir} a run folder?`);
  return record as RunRecord;
}

function readJsonFile(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new ConfigError(`Cannot read ${file}: ${errorMessage(err)}`);
  }
}

export interface RunFolder {
  dir: string;
  config: ResolvedConfig;
  record: RunRecord;
  /** trainable.safetensors, when training finished and wrote it. */
  trainable?: string;
  checkpoints: string;
}

/** True when `dir` looks like a run folder (a config.json beside run.json or trainable.safetensors). */
export function isRunFolder(dir: string): boolean {
  return existsSync(join(dir, RUN_FILES.config)) && (existsSync(join(dir, RUN_FILES.record)) || existsSync(join(dir, RUN_FILES.trainable)));
}

/** Reads a run folder written by createRunFolder/saveRunFolder, failing clearly on anything else. */
export function readRunFolder(dir: string): RunFolder {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new ConfigError(`Run folder ${abs} does not exist.`);
  if (!isRunFolder(abs)) {
    throw new ConfigError(`${abs} is not a run folder: it needs ${RUN_FILES.config} and ${RUN_FILES.record} (as written by "leantune train"). For an adapter folder, use --adapter with -c <config> or --model.`);
  }
  const config = readJsonFile(join(abs, RUN_FILES.config)) as ResolvedConfig;
  const record = readRunRecord(abs) ?? {
    format: 'leantune-run',
    version: 1,
    name: config.name,
    status: 'completed',
    configDir: dirname(abs),
    methods: Object.keys(config.methods ?? {}),
    adapters: {},
  };
  const trainable = join(abs, RUN_FILES.trainable);
  return { dir: abs, config, record, trainable: existsSync(trainable) ? trainable : undefined, checkpoints: join(abs, RUN_FILES.checkpoints) };
}

