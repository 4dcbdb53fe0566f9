import { basename } from 'node:path';
import { errorMessage, type Run } from '@leantune/core';
import { MlflowClient, MlflowError, type KeyValue, type Metric, type RunStatus } from './client';
import { flattenParams } from './params';

export const PLUGIN_NAME = '@leantune/plugin-track-mlflow';

export interface MlflowOptions {
  /** http(s) address of the tracking server; default MLFLOW_TRACKING_URI. */
  trackingUri?: string;
  /** Default MLFLOW_EXPERIMENT_NAME, else "leantune"; created when missing. */
  experimentName?: string;
  /** Default the run folder's name. */
  runName?: string;
  tags: Record<string, string>;
  /** Send step metrics every N steps (evaluations and the end of training always send). */
  flushEvery: number;
  /** Most metrics kept while the server is slow or away; the oldest go first. */
  maxPending: number;
  timeoutMs: number;
  logParams: boolean;
}

/** Taps one run's hooks; the MLflow run starts with training and ends FINISHED when saved, FAILED on failure. */
export function trackRun(run: Run, client: MlflowClient, options: MlflowOptions & { experimentName: string }): { idle(): Promise<void> } {
  const log = run.context.log;
  let runId: string | undefined;
  let started = false;
  /** The MLflow run could not be created: nothing more is collected or sent. */
  let disabled = false;
  let pending: Metric[] = [];
  let chain: Promise<void> = Promise.resolve();
  let dropped = 0;
  const warned = new Set<string>();
  let unwarned = 0;

  const warn = (err: unknown) => {
    const key = err instanceof MlflowError ? `${err.endpoint} ${err.status}` : errorMessage(err);
    if (warned.has(key)) return void unwarned++;
    warned.add(key);
    log.warn(`track-mlflow: ${errorMessage(err)}. Training goes on; ${runId ? 'these values are missing from the MLflow run' : 'nothing is sent to MLflow for this run'}.`);
  };
  /** Requests run one after another, in hook order; a failure warns and never rejects. */
  const enqueue = (what: () => Promise<void>) => (chain = chain.then(what).catch(warn));
  const flush = () =>
    enqueue(async () => {
      if (!runId || !pending.length) return;
      const batch = pending;
      pending = [];
      await client.logBatch(runId, batch);
    });
  const push = (step: number, values: Readonly<Record<string, number>>) => {
    if (!started || disabled) return;
    const timestamp = Date.now();
    for (const [key, value] of Object.entries(values)) if (Number.isFinite(value)) pending.push({ key, value, timestamp, step });
    if (pending.length > options.maxPending) {
      dropped += pending.length - options.maxPending;
      pending = pending.slice(-options.maxPending);
    }
  };
  const finish = (status: RunStatus, tags: KeyValue[]) => {
    flush();
    enqueue(async () => {
      if (dropped) tags.push({ key: 'leantune.droppedMetrics', value: String(dropped) });
      if (runId) await client.logBatch(runId, [], [], tags);
    });
    // The status goes in its own request: a failed log-batch must not leave the run RUNNING.
    enqueue(async () => {
      if (runId) await client.updateRun(runId, status);
    });
    return enqueue(async () => {
      if (unwarned) log.warn(`track-mlflow: ${unwarned} more MLflow requests failed the same way.`);
      if (dropped) log.warn(`track-mlflow: ${dropped} metrics were dropped while the server did not keep up ("maxPending" ${options.maxPending}).`);
    });
  };

  const h = run.hooks;
  h.beforeTrain.tapPromise(PLUGIN_NAME, async () => {
    if (started) return;
    started = true;
    const ctx = run.context;
    const name = options.runName ?? (ctx.runDir ? basename(ctx.runDir) : ctx.runName);
    const tags: KeyValue[] = [
      { key: 'mlflow.source.name', value: 'leantune' },
      ...(ctx.runDir ? [{ key: 'leantune.runDir', value: ctx.runDir }] : []),
      ...Object.entries(options.tags).map(([key, value]) => ({ key, value })),
    ];
    // Not awaited: training starts at once; step metrics wait in `pending` until the run exists.
    enqueue(async () => {
      try {
        const experiment = await client.experimentId(options.experimentName);
        runId = (await client.createRun(experiment, name, tags)).run_id;
      } catch (err) {
        disabled = true;
        pending = [];
        throw err;
      }
      log.info(`MLflow run ${runId} in experiment "${options.experimentName}" at ${client.baseUrl}`);
      if (options.logParams) await client.logBatch(runId, [], flattenParams({ ...ctx.config, plugins: undefined }));
    });
  });
  h.afterStep.tap(PLUGIN_NAME, (logs) => {
    const { step, epoch, ...values } = logs;
    push(step + 1, Object.fromEntries(Object.entries(values).map(([k, v]) => [`train/${k}`, v])));
    if (pending.length >= options.flushEvery) flush();
  });
  const evaluated = (step: number, metrics: Readonly<Record<string, number>> = {}, extra: Record<string, number> = {}) => {
    push(step, { ...extra, ...Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`eval/${k}`, v])) });
    return flush();
  };
  h.afterEpoch.tapPromise(PLUGIN_NAME, (logs, state) => evaluated(state.step, logs.eval, { 'train/epoch_loss': logs.trainLoss }));
  h.afterEval.tapPromise(PLUGIN_NAME, (logs) => evaluated(logs.step, logs.eval));
  h.afterTrain.tapPromise(PLUGIN_NAME, () => flush());
  h.save.tapPromise(PLUGIN_NAME, async (artifacts) => {
    if (started) await finish('FINISHED', [{ key: 'leantune.runDir', value: artifacts.dir }]);
  });
  h.failed.tapPromise(PLUGIN_NAME, async (err) => {
    if (started) await finish('FAILED', [{ key: 'leantune.error', value: errorMessage(err).slice(0, 5000) }]);
  });
  return { idle: () => chain };
}
