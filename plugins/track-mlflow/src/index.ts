import { definePlugin } from '@leantune/core';
import { MlflowClient, authHeaders } from './client';
import { PLUGIN_NAME, trackRun, type MlflowOptions } from './tracker';

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    trackingUri: { type: 'string', pattern: '^https?://[^/]', description: 'http(s) address of the MLflow tracking server (default MLFLOW_TRACKING_URI)' },
    experimentName: { type: 'string', minLength: 1, description: 'Experiment to log into, created when missing (default MLFLOW_EXPERIMENT_NAME, else "leantune")' },
    runName: { type: 'string', minLength: 1, description: "MLflow run name (default the run folder's name)" },
    tags: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra run tags' },
    flushEvery: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Send step metrics once this many are waiting' },
    maxPending: { type: 'integer', minimum: 1000, maximum: 100000000, default: 100000, description: 'Most metrics kept while the server is away (oldest dropped first)' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: 3600000, default: 10000, description: 'Per-request timeout' },
    logParams: { type: 'boolean', default: true, description: 'Log the resolved config as params' },
  },
} as const;

/**
 * The tracking server's address: the option, else MLFLOW_TRACKING_URI. Undefined with the
 * reason when there is none or it is not http(s) (a `file:` store is Python-only).
 */
export function trackingUriOf(options: Pick<MlflowOptions, 'trackingUri'>, env: NodeJS.ProcessEnv = process.env): { uri?: string; problem?: string } {
  const uri = options.trackingUri ?? env.MLFLOW_TRACKING_URI;
  const fix = 'set the option "trackingUri" (["track-mlflow", { "trackingUri": "http://127.0.0.1:5000" }]) or MLFLOW_TRACKING_URI to a tracking server\'s http(s) address';
  if (!uri) return { problem: `no tracking server: ${fix}` };
  if (!/^https?:\/\/[^/]/.test(uri)) {
    return { problem: `${options.trackingUri ? 'option "trackingUri"' : 'MLFLOW_TRACKING_URI'} is "${uri}", not an http(s) address (this plugin talks to a tracking server over its REST API): ${fix}` };
  }
  return { uri };
}

/** Logs every run to an MLflow tracking server: `"plugins": [["track-mlflow", { "trackingUri": "http://127.0.0.1:5000" }]]`. */
export default definePlugin<MlflowOptions>({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Params, metrics and run status to an MLflow tracking server' },
  optionsSchema,
  apply(ctx) {
    // Read when a run is created, not here: listing installed plugins applies this one too, without options.
    ctx.hooks.run.tap(PLUGIN_NAME, (run) => {
      const { uri, problem } = trackingUriOf(ctx.options);
      if (!uri) {
        // A run that trains says why it is not tracked; it is never stopped for it.
        run.hooks.beforeTrain.tap(PLUGIN_NAME, () => run.context.log.warn(`track-mlflow: ${problem}. This run is not tracked in MLflow.`));
        return;
      }
      const client = new MlflowClient(uri, { timeoutMs: ctx.options.timeoutMs, headers: authHeaders() });
      const experimentName = ctx.options.experimentName ?? process.env.MLFLOW_EXPERIMENT_NAME ?? 'leantune';
      trackRun(run, client, { ...ctx.options, experimentName });
    });
  },
});

export { PLUGIN_NAME, trackRun, type MlflowOptions } from './tracker';
export { LOG_BATCH_LIMITS, MlflowClient, MlflowError, PARAM_VALUE_MAX, authHeaders, logBatches, type KeyValue, type Metric, type RunInfo, type RunStatus } from './client';
export { flattenParams } from './params';
