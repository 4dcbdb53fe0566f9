import { LOG_BATCH_LIMITS, MlflowClient, MlflowError, flattenParams, logBatches, type Metric } from '../src';
import { trackingUriOf } from '../src/index';
import { pairs, startStub, type Recorded, type Stub } from './stub-server';

/** A recorded request with its timestamps set to 0, as the fixtures hold them. */
const normalized = (r: Recorded) => {
  const body = r.body && JSON.parse(JSON.stringify(r.body, (k, v) => (['timestamp', 'start_time', 'end_time'].includes(k) ? 0 : v)));
  return { method: r.method, path: r.path, ...(body ? { body } : {}) };
};

describe('MlflowClient against recorded MLflow request/response pairs', () => {
  let stub: Stub;
  beforeEach(async () => (stub = await startStub()));
  afterEach(() => stub.close());

  it('finds or creates the experiment, creates a run, logs a batch and finishes it: each request as recorded', async () => {
    const client = new MlflowClient(`${stub.uri}/`);
    const experiment = await client.experimentId('leantune-test');
    expect(experiment).toBe(pairs.createExperiment.response.body.experiment_id);
    expect(await client.experimentId('leantune-test')).toBe(experiment);
    const info = await client.createRun(experiment, 'tiny-run', [{ key: 'mlflow.source.name', value: 'leantune' }]);
    expect(info.run_id).toBe(pairs.createRun.response.body.run.info.run_id);
    await client.logBatch(info.run_id, [{ key: 'train/loss', value: 0.69, timestamp: Date.now(), step: 1 }], [{ key: 'train.learningRate', value: '0.05' }]);
    await client.updateRun(info.run_id, 'FINISHED');
    expect(stub.requests.map(normalized)).toEqual([
      pairs.getExperimentMissing.request,
      pairs.createExperiment.request,
      pairs.getExperimentFound.request,
      pairs.createRun.request,
      pairs.logBatch.request,
      pairs.updateRun.request,
    ]);
    expect(stub.requests.find((r) => r.endpoint === 'runs/update')!.body.end_time).toBeGreaterThan(1.7e12);
  });

  it('splits log-batch within MLflow limits (1000 metrics, 100 params, 1000 entities per request)', async () => {
    const metrics: Metric[] = Array.from({ length: 2345 }, (_, i) => ({ key: 'train/loss', value: i, timestamp: 1, step: i }));
    const params = Array.from({ length: 250 }, (_, i) => ({ key: `p${i}`, value: String(i) }));
    const batches = logBatches(metrics, params);
    for (const b of batches) {
      expect(b.metrics.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.metrics);
      expect(b.params.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.params);
      expect(b.metrics.length + b.params.length + b.tags.length).toBeLessThanOrEqual(LOG_BATCH_LIMITS.total);
    }
    expect(batches.flatMap((b) => b.metrics)).toEqual(metrics);
    expect(batches.flatMap((b) => b.params)).toEqual(params);
    await new MlflowClient(stub.uri).logBatch('r', metrics, params);
    expect(stub.requests.map((r) => [r.body.metrics.length, r.body.params.length])).toEqual([[900, 100], [900, 100], [545, 50]]);
    expect(logBatches([])).toEqual([]);
  });

  it('an error reply throws an MlflowError naming the endpoint, the status and MLflow\'s error code', async () => {
    stub.fail.set('runs/log-batch', pairs.invalidParameter.response);
    stub.fail.set('runs/update', pairs.internalError.response);
    const client = new MlflowClient(stub.uri);
    await expect(client.logBatch('r', [{ key: 'a', value: 1, timestamp: 1, step: 0 }])).rejects.toThrow(/^MLflow runs\/log-batch answered 400 INVALID_PARAMETER_VALUE: A batch logging request/);
    const err = await client.updateRun('r', 'FAILED').catch((e) => e);
    expect(err).toBeInstanceOf(MlflowError);
    expect([err.endpoint, err.status, err.errorCode]).toEqual(['runs/update', 500, 'INTERNAL_ERROR']);
    // A server that is gone: the endpoint and the network error.
    const gone = await startStub();
    await gone.close();
    await expect(new MlflowClient(gone.uri).experimentId('x')).rejects.toThrow(/MLflow experiments\/get-by-name at http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED/);
  });

  it('flattens a config into params with dotted keys; long values are cut to MLflow\'s limit', () => {
    const params = flattenParams({ model: 'tiny', train: { learningRate: 0.05, schedule: { type: 'cosine' } }, methods: { lora: { target_modules: ['q', 'v'] } }, empty: {}, long: 'x'.repeat(7000), none: undefined });
    expect(params.slice(0, 4)).toEqual([
      { key: 'model', value: 'tiny' },
      { key: 'train.learningRate', value: '0.05' },
      { key: 'train.schedule.type', value: 'cosine' },
      { key: 'methods.lora.target_modules', value: '["q","v"]' },
    ]);
    expect(params.find((p) => p.key === 'empty')!.value).toBe('{}');
    expect(params.find((p) => p.key === 'long')!.value).toHaveLength(6000);
    expect(params.some((p) => p.key === 'none')).toBe(false);
  });

  it('the tracking URI comes from the option or MLFLOW_TRACKING_URI; missing or non-http is a problem naming the option and the fix', () => {
    expect(trackingUriOf({ trackingUri: 'http://a:5000' }, {})).toEqual({ uri: 'http://a:5000' });
    expect(trackingUriOf({}, { MLFLOW_TRACKING_URI: 'https://b' })).toEqual({ uri: 'https://b' });
    expect(trackingUriOf({}, {}).problem).toMatch(/^no tracking server: set the option "trackingUri".*or MLFLOW_TRACKING_URI/);
    expect(trackingUriOf({}, { MLFLOW_TRACKING_URI: 'file:./mlruns' }).problem).toMatch(/^MLFLOW_TRACKING_URI is "file:.\/mlruns", not an http\(s\) address/);
    expect(trackingUriOf({ trackingUri: 'localhost:5000' }, {}).problem).toMatch(/^option "trackingUri" is "localhost:5000"/);
  });
});
