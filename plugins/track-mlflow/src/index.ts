import { ConfigError, definePlugin } from '@leantune/core';
import { MlflowClient, authHeaders } from './client';
import { PLUGIN_NAME, trackRun, type MlflowOptions } from './tracker';

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    trackingUri: { type: 'string', minLength: 1, description: 'http(s) address of the MLflow tracking server (default MLFLOW_TRACKING_URI)' },
    experimentName: { type: 'string', minLength: 1, description: 'Experiment to log into, created when missing (default MLFLOW_EXPERIMENT_NAME, else "leantune")' },
    runName: { type: 'string', minLength: 1, description: "MLflow run name (default the run folder's name)" },
    tags: { type: 'object', additionalProperties: { type: 'string' }, default: {}, description: 'Extra run tags' },
    flushEvery: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'Send step metrics once this many are waiting' },
    maxPending: { type: 'integer', minimum: 1000, default: 100000, description: 'Most metrics kept while the server is away (oldest dropped first)' },
    timeoutMs: { type: 'integer', minimum: 1, default: 10000, description: 'Per-request timeout' },
    logParams: { type: 'boolean', default: true, description: 'Log the resolved config as params' },
  },
} as const;

/** The tracking server's address: the option, else MLFLOW_TRACKING_URI; only http(s) servers. */
export function trackingUriOf(options: Pick<MlflowOptions, 'trackingUri'>, env: NodeJS.ProcessEnv = process.env): string {
  const uri = options.trackingUri ?? env.MLFLOW_TRACKING_URI;
  const example = '["track-mlflow", { "trackingUri": "http://127.0.0.1:5000" }]';
  if (!uri) throw new ConfigError(`Plugin track-mlflow has no tracking server: set its option "trackingUri" (e.g. ${example}) or the MLFLOW_TRACKING_URI environment variable.`);
  let url: URL | undefined;
  try {
    url = new URL(uri);
  } catch {
    /* reported below */
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    const from = options.trackingUri ? 'option "trackingUri"' : 'MLFLOW_TRACKING_URI';
    throw new ConfigError(`Plugin track-mlflow: ${from} is "${uri}", not an http(s) address. This plugin talks to a tracking server over its REST API; start one (mlflow server) and give its address, e.g. ${example}.`);
  }
  return uri;
}

/** Logs every run to an MLflow tracking server: `"plugins": [["track-mlflow", { "trackingUri": "http://127.0.0.1:5000" }]]`. */
export default definePlugin<MlflowOptions>({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Params, metrics and run status to an MLflow tracking server' },
  optionsSchema,
  apply(ctx) {
    const client = new MlflowClient(trackingUriOf(ctx.options), { timeoutMs: ctx.options.timeoutMs, headers: authHeaders() });
    const experimentName = ctx.options.experimentName ?? process.env.MLFLOW_EXPERIMENT_NAME ?? 'leantune';
    ctx.hooks.run.tap(PLUGIN_NAME, (run) => void trackRun(run, client, { ...ctx.options, experimentName }));
  },
});

export { PLUGIN_NAME, trackRun, type MlflowOptions } from './tracker';
export { LOG_BATCH_LIMITS, MlflowClient, MlflowError, PARAM_VALUE_MAX, authHeaders, logBatches, type KeyValue, type Metric, type RunInfo, type RunStatus } from './client';
export { flattenParams } from './params';
