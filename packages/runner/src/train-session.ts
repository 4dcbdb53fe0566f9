import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError,
  type Logger,
  RunError,
  errorMessage,
  explainEmptyDataset,
  formatTruncation,
  type LoadedConfig,
  type Metrics,
  type Plugin,
  type ResolvedConfig,
  type Run,
  type Toolkit,
} from '@leantune/core';
import {
  RUN_FILES,
  createRunFolder,
  markRunFailed,
  markRunInterrupted,
  readRunFolder,
  removeTempLeftovers,
  runFolderPath,
  saveRunFolder,
} from './run-folder';
import { datasetSplits } from './split-record';
import { CheckpointError, TRAIN_REPORT, checkSchedule, resolveCheckpoint, createTrainDriver, trainConfigOf, type FitResult, type TrainReport } from '@leantune/train';
import { summarize, type RunSummary } from './run-summary';
import { metricsJsonlReporter } from './reporters/metrics-jsonl';
import { RUN_FOLDER_STATE, tapTrainEvents, type RunFolderInfo, type TrainEvent } from './reporters/train-events';

export type { TrainEvent } from './reporters/train-events';

export interface TrainToFolderOptions {
  /** Base for a relative output.dir (default the config file's folder, as for plugin paths). */
  baseDir?: string;
  /** A run folder to continue: its latest checkpoint is restored; the config must be the same. */
  resume?: string;
  /** Aborting stops after the current step, saves a checkpoint and returns "interrupted". */
  signal?: AbortSignal;
  onEvent?: (event: TrainEvent) => void;
}

/** The reporters every run folder gets unless the toolkit has them already: the metrics.jsonl history. */
export const DEFAULT_REPORTERS: readonly Plugin[] = [metricsJsonlReporter];

/** Applies the default reporters a toolkit does not have yet (so `leantune plugins` lists them too). */
export async function useDefaultReporters(toolkit: Toolkit): Promise<Toolkit> {
  const missing = DEFAULT_REPORTERS.filter((r) => !toolkit.plugins.some((p) => p.plugin === r));
  if (missing.length) await toolkit.use(missing.map((plugin) => ({ plugin, where: 'a default reporter of @leantune/runner' })));
  return toolkit;
}

export interface TrainOutcome {
  status: 'completed' | 'interrupted';
  dir: string;
  run: Run;
  metrics: Metrics;
  step: number;
  /** Only for completed runs: the figures `leantune train` prints. */
  summary?: RunSummary;
}

/** Dotted paths where two JSON values differ (at most `limit`). */
export function configDifferences(a: unknown, b: unknown, path = '', out: string[] = [], limit = 8): string[] {
  if (out.length >= limit) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) configDifferences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, limit);
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || '(root)'}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  return out;
}

/**
 * Checks a resume: the folder can be continued, with the very config it started with, from a
 * checkpoint that matches its manifest (sizes and sha256). Damaged checkpoints are skipped
 * with a warning naming each and why; when none is usable the error names every one. All of
 * this before anything is written.
 */
function checkResume(dir: string, config: ResolvedConfig | undefined, log: Logger): { dir: string; config: ResolvedConfig; checkpoint: string } {
  const folder = readRunFolder(dir);
  if (folder.record.status === 'completed') throw new ConfigError(`Run ${folder.dir} already completed; there is nothing to resume. Start a new run instead.`);
  if (!existsSync(folder.checkpoints) || !readdirSync(folder.checkpoints).some((n) => /^step-\d+$/.test(n))) {
    throw new ConfigError(`Run ${folder.dir} has no checkpoint to resume from (no step-* folder in ${folder.checkpoints}); set "train.checkpointEvery" and start a new run.`);
  }
  if (config) {
    const diff = configDifferences(folder.config, config);
    if (diff.length) {
      throw new ConfigError(`Cannot resume ${folder.dir}: the config differs from the one it was started with (${diff.join('; ')}). Resume with the same config, or leave -c out to use the run's own.`);
    }
  }
  let checkpoint: string;
  try {
    checkpoint = resolveCheckpoint(folder.checkpoints, { warn: (m) => log.warn(m) });
  } catch (err) {
    if (err instanceof CheckpointError) throw new RunError(`Cannot resume ${folder.dir}: ${err.message}`, { cause: err });
    throw err;
  }
  return { dir: folder.dir, config: folder.config, checkpoint };
}

function trainRecordCount(run: Run): number {
  return (run.dataset?.splits?.train ?? run.dataset?.records ?? []).length;
}

/**
 * Every record of every split has one of the classifier's labels, checked before the run
 * folder exists: a record the model cannot take would otherwise fail the first batch, with a
 * folder already written. Models without labels (language models) take any record.
 */
function checkRecordLabels(run: Run): void {
  const labels = run.model?.labels;
  if (!labels?.length || !run.dataset) return;
  const known = new Set(labels.map(String));
  for (const [split, records] of Object.entries(datasetSplits(run.dataset))) {
    const bad = records.filter((r) => r.labels === undefined && (r.label === undefined || !known.has(String(r.label))));
    if (!bad.length) continue;
    const r = bad[0];
    const what = r.label === undefined ? 'has no label' : `has label "${String(r.label)}"`;
    const where = r.meta?.source ? ` (${r.meta.source}, row ${r.meta.row})` : '';
    throw new RunError(
      `Dataset "${run.dataset.name}": ${bad.length} of ${records.length} ${split} record${records.length === 1 ? '' : 's'} cannot be classified by model "${run.model!.name}", whose labels are ${labels.map((l) => `"${l}"`).join(', ')}; the first, ${r.id}${where}, ${what}. Give every record one of these labels, or give the model the dataset's labels (model.labels).`,
    );
  }
}

/** How many unusable records an error lists by id. */
const SHOWN_RECORDS = 5;

/**
 * Every record of every split is one the model can take (LoadedModel.checkRecord: an image
 * with a usable shape and values, …), checked before the run folder exists, as labels are.
 * The error groups the records by reason, with counts and the first ids.
 */
function checkModelRecords(run: Run): void {
  const check = run.model?.checkRecord?.bind(run.model);
  if (!check || !run.dataset) return;
  const byReason = new Map<string, string[]>();
  let total = 0;
  let count = 0;
  for (const records of Object.values(datasetSplits(run.dataset))) {
    for (const r of records) {
      count++;
      const why = check(r);
      if (why === undefined) continue;
      total++;
      const where = r.meta?.source ? `${r.id} (${r.meta.source}, row ${r.meta.row})` : r.id;
      const ids = byReason.get(why) ?? [];
      if (ids.length < SHOWN_RECORDS) ids.push(where);
      byReason.set(why, ids);
    }
  }
  if (!total) return;
  const reasons = [...byReason].map(([why, ids]) => `${why}: ${ids.join(', ')}${ids.length === SHOWN_RECORDS ? ', …' : ''}`);
  throw new RunError(
    `Dataset "${run.dataset.name}": ${total} of ${count} record${count === 1 ? '' : 's'} cannot be used by model "${run.model!.name}": ${reasons.join('; ')}. Fix or remove these records (a data-clean stage can drop them).`,
  );
}

/**
 * One training run into its own folder: model and data are loaded first (so bad input
 * writes nothing), then the folder is created, every step and epoch is appended to
 * metrics.jsonl, checkpoints go to checkpoints/ (every train.checkpointEvery steps and at
 * the end), and the finished run is saved with its adapters. An abort (Ctrl-C) saves a
 * checkpoint and returns "interrupted"; `resume` continues such a run.
 */
export async function trainToFolder(loaded: Pick<LoadedConfig, 'toolkit' | 'config' | 'configDir'>, options: TrainToFolderOptions = {}): Promise<TrainOutcome> {
  const resumed = options.resume ? checkResume(options.resume, loaded.config, loaded.toolkit.log) : undefined;
  await useDefaultReporters(loaded.toolkit);
  const run = loaded.toolkit.createRun(structuredClone(resumed?.config ?? loaded.config), { configDir: loaded.configDir });
  // The documented order: the base model, the data stages (ENCODE sees the model), then the methods.
  await run.prepare();
  // Data that left no training record fails here, naming the source and what each stage dropped.
  if (run.dataset && trainRecordCount(run) === 0) throw new RunError(explainEmptyDataset(run.dataset));
  // An impossible schedule fails here, before anything is written.
  checkSchedule(trainConfigOf(run.config), trainRecordCount(run));
  checkRecordLabels(run);
  checkModelRecords(run);
  const dir = resumed?.dir ?? createRunFolder(run, runFolderPath(run, options.baseDir ?? loaded.configDir));
  // What the killed process left halfway through its atomic writes goes (metrics rows past
  // the checkpoint go when training starts: the metrics-jsonl reporter drops them).
  if (resumed) for (const left of removeTempLeftovers(dir)) loaded.toolkit.log.info(`Removed ${left}, left by an interrupted write.`);
  // A resumed run continues in its folder: reporters (tracking plugins) write there again.
  run.context.runDir = dir;
  // Reporters (metrics.jsonl, progress) write for runs that carry this.
  run.context.state.set(RUN_FOLDER_STATE, { dir, resumed: !!resumed } satisfies RunFolderInfo);
  try {
    return await trainInFolder(run, dir, resumed, options);
  } catch (err) {
    // Any failure once the folder exists is recorded there: a failed run never looks alive.
    markRunFailed(run, dir, err);
    // Reporters (tracking plugins) close their records; one of them failing must not hide the error.
    await run.hooks.failed.promise(err, run.context).catch((hookErr) => run.context.log.warn(`A "failed" hook threw: ${errorMessage(hookErr)}`));
    throw err;
  }
}

async function trainInFolder(run: Run, dir: string, resumed: { checkpoint: string } | undefined, options: TrainToFolderOptions): Promise<TrainOutcome> {
  // The metrics history and progress are reporter plugins on the run's hooks; onEvent sees the same events.
  if (options.onEvent) tapTrainEvents(run, 'leantune-runner', options.onEvent);
  let result: FitResult | undefined;
  const driver = createTrainDriver({
    signal: options.signal,
    checkpointDir: join(dir, RUN_FILES.checkpoints),
    resumeFrom: resumed?.checkpoint,
    onResult: (r) => (result = r),
  });
  const started = performance.now();
  let metrics: Metrics;
  try {
    metrics = await run.fit(driver);
  } catch (err) {
    if (err instanceof ConfigError || err instanceof RunError) throw err;
    throw new RunError(`Training ${run.config.name} failed (run folder ${dir}): ${errorMessage(err)}`, { cause: err });
  }
  const step = result?.state.step ?? 0;
  if (result?.checkpoint) options.onEvent?.({ type: 'checkpoint', step, dir: result.checkpoint });
  if (result?.stoppedBy === 'aborted' && options.signal?.aborted) {
    markRunInterrupted(run, dir, step);
    return { status: 'interrupted', dir, run, metrics, step };
  }
  const trainSeconds = (performance.now() - started) / 1000;
  const report = (run.context.state.get(TRAIN_REPORT) ?? {}) as TrainReport;
  // One sentence for the whole run (the model warned once, at its first cut).
  const truncated = run.model?.truncation?.();
  if (truncated) run.context.log.warn(formatTruncation(run.model!.name, truncated));
  // The total goes into metrics.json too, so the run folder says how many texts were cut.
  const artifacts = await saveRunFolder(run, metrics, options.baseDir, { dir, report: { ...report, ...(truncated ? { truncated } : {}) } });
  const summary = summarize(run, metrics, artifacts, trainSeconds, report);
  return { status: 'completed', dir, run, metrics, step, summary: truncated ? { ...summary, truncated } : summary };
}
