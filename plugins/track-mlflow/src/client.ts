/**
 * A small MLflow tracking client over the REST API (`/api/2.0/mlflow/...`) with Node's fetch.
 * Every call either returns the parsed JSON reply or throws an MlflowError naming the
 * endpoint and the HTTP status (or the network error).
 */

/** MLflow's per-request limits for runs/log-batch. */
export const LOG_BATCH_LIMITS = Object.freeze({ metrics: 1000, params: 100, tags: 100, total: 1000 });
/** Longest param value MLflow 2.x stores; longer values are cut (with a marker) rather than rejected. */
export const PARAM_VALUE_MAX = 6000;

export interface Metric {
  key: string;
  value: number;
  /** Milliseconds since the epoch. */
  timestamp: number;
  step: number;
}
export interface KeyValue {
  key: string;
  value: string;
}
export interface RunInfo {
  run_id: string;
  experiment_id: string;
  status?: string;
  [field: string]: unknown;
}
export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export class MlflowError extends Error {
  constructor(
    readonly endpoint: string,
    readonly status: number | undefined,
    readonly errorCode: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'MlflowError';
  }
}

export interface MlflowClientOptions {
  /** Per-request timeout in milliseconds. */
  timeoutMs?: number;
  /** Extra headers, e.g. Authorization. */
  headers?: Record<string, string>;
  fetch?: typeof fetch;
}

/** Authorization from MLflow's own environment variables (MLFLOW_TRACKING_TOKEN, or _USERNAME and _PASSWORD). */
export function authHeaders(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  if (env.MLFLOW_TRACKING_TOKEN) return { Authorization: `Bearer ${env.MLFLOW_TRACKING_TOKEN}` };
  if (env.MLFLOW_TRACKING_USERNAME && env.MLFLOW_TRACKING_PASSWORD) {
    return { Authorization: `Basic ${Buffer.from(`${env.MLFLOW_TRACKING_USERNAME}:${env.MLFLOW_TRACKING_PASSWORD}`).toString('base64')}` };
  }
  return {};
}

/** Splits into chunks that respect every log-batch limit. */
export function logBatches(metrics: readonly Metric[], params: readonly KeyValue[] = [], tags: readonly KeyValue[] = []): { metrics: Metric[]; params: KeyValue[]; tags: KeyValue[] }[] {
  const batches: { metrics: Metric[]; params: KeyValue[]; tags: KeyValue[] }[] = [];
  let p = 0;
  let t = 0;
  let m = 0;
  while (p < params.length || t < tags.length || m < metrics.length) {
    const np = Math.min(LOG_BATCH_LIMITS.params, params.length - p);
    const nt = Math.min(LOG_BATCH_LIMITS.tags, tags.length - t);
    const nm = Math.min(LOG_BATCH_LIMITS.metrics, LOG_BATCH_LIMITS.total - np - nt, metrics.length - m);
    batches.push({ params: params.slice(p, p + np), tags: tags.slice(t, t + nt), metrics: metrics.slice(m, m + nm) });
    p += np;
    t += nt;
    m += nm;
  }
  return batches;
}

export class MlflowClient {
  readonly baseUrl: string;
  private readonly fetch: typeof fetch;

  constructor(
    trackingUri: string,
    private readonly options: MlflowClientOptions = {},
  ) {
    this.baseUrl = trackingUri.replace(/\/+$/, '');
    this.fetch = options.fetch ?? fetch;
  }

  async call<T = Record<string, unknown>>(endpoint: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    const url = `${this.baseUrl}/api/2.0/mlflow/${endpoint}${query ? `?${new URLSearchParams(query)}` : ''}`;
    const method = body === undefined ? 'GET' : 'POST';
    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...this.options.headers },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new MlflowError(endpoint, undefined, undefined, `MLflow ${endpoint} at ${this.baseUrl} failed: ${(err as Error).message}${cause ? ` (${cause})` : ''}`);
    }
    const text = await res.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      /* a proxy's HTML error page: the status says enough */
    }
    if (!res.ok) {
      const code = typeof json.error_code === 'string' ? json.error_code : undefined;
      const detail = typeof json.message === 'string' ? json.message : text.slice(0, 200);
      throw new MlflowError(endpoint, res.status, code, `MLflow ${endpoint} answered ${res.status}${code ? ` ${code}` : ''}: ${detail}`);
    }
    return json as T;
  }

  /** The experiment's id, creating the experiment when no experiment has that name. */
  async experimentId(name: string): Promise<string> {
    try {
      const got = await this.call<{ experiment: { experiment_id: string } }>('experiments/get-by-name', undefined, { experiment_name: name });
      return got.experiment.experiment_id;
    } catch (err) {
      if (!(err instanceof MlflowError) || err.errorCode !== 'RESOURCE_DOES_NOT_EXIST') throw err;
    }
    return (await this.call<{ experiment_id: string }>('experiments/create', { name })).experiment_id;
  }

  async createRun(experimentId: string, runName: string, tags: readonly KeyValue[], startTime = Date.now()): Promise<RunInfo> {
    const got = await this.call<{ run: { info: RunInfo } }>('runs/create', { experiment_id: experimentId, run_name: runName, start_time: startTime, tags });
    return got.run.info;
  }

  /** Logs in as many requests as the limits need. */
  async logBatch(runId: string, metrics: readonly Metric[], params: readonly KeyValue[] = [], tags: readonly KeyValue[] = []): Promise<void> {
    for (const batch of logBatches(metrics, params, tags)) await this.call('runs/log-batch', { run_id: runId, ...batch });
  }

  async updateRun(runId: string, status: RunStatus, endTime = Date.now()): Promise<void> {
    await this.call('runs/update', { run_id: runId, status, end_time: endTime });
  }
}
