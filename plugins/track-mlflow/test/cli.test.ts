import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, jsonLines, localConfig, onlyRun, tempDir } from '../../../packages/cli/test/helpers';
import { pairs, startStub, type Stub } from './stub-server';

function trackedConfig(dir: string, options: Record<string, unknown>, plugins: string[] = []): string {
  const file = localConfig(dir);
  const config = JSON.parse(readFileSync(file, 'utf8'));
  config.plugins.push(['track-mlflow', { experimentName: 'leantune-test', ...options }], ...plugins);
  config.train.evalEvery = 4;
  writeFileSync(file, JSON.stringify(config));
  return file;
}

const runId = pairs.createRun.response.body.run.info.run_id;
const logged = (stub: Stub) => stub.requests.filter((r) => r.endpoint === 'runs/log-batch').map((r) => r.body);

describe('track-mlflow through the CLI, against a stub server answering with recorded MLflow responses', () => {
  let stub: Stub;
  beforeEach(async () => (stub = await startStub()));
  afterEach(() => stub.close());

  it('creates the experiment and run, logs the config as params and every metrics.jsonl value as metrics, ends FINISHED', async () => {
    const cwd = tempDir('lt-mlflow-');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, { trackingUri: stub.uri, flushEvery: 5, tags: { team: 'nlp' } }), '--quiet']);
    expect(r.err).not.toMatch(/track-mlflow/);
    expect(r.code).toBe(0);
    const dir = onlyRun(cwd);
    const endpoints = stub.requests.map((q) => q.endpoint);
    expect(endpoints.slice(0, 3)).toEqual(['experiments/get-by-name', 'experiments/create', 'runs/create']);
    expect(endpoints.at(-1)).toBe('runs/update');
    expect(stub.requests.at(-1)!.body).toMatchObject({ run_id: runId, status: 'FINISHED' });
    const create = stub.requests[2].body;
    expect(create).toMatchObject({ experiment_id: pairs.createExperiment.response.body.experiment_id, run_name: dir.split('/').pop() });
    expect(create.tags).toEqual(expect.arrayContaining([{ key: 'team', value: 'nlp' }, { key: 'leantune.runDir', value: dir }]));
    const batches = logged(stub);
    expect(batches.every((b) => b.run_id === runId && b.metrics.length <= 1000 && b.params.length <= 100)).toBe(true);
    const params = Object.fromEntries(batches.flatMap((b) => b.params).map((p: { key: string; value: string }) => [p.key, p.value]));
    expect(params).toMatchObject({ 'model.name': 'tiny-text', 'train.learningRate': '0.05', 'methods.lora.r': '4' });
    // flushEvery 5 sends step metrics in several requests during training, not all at the end.
    expect(batches.filter((b) => b.metrics.length).length).toBeGreaterThan(3);
    const metrics = batches.flatMap((b) => b.metrics);
    const value = (key: string, step: number) => metrics.find((m: { key: string; step: number }) => m.key === key && m.step === step)?.value;
    const history = jsonLines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'));
    for (const line of history) {
      for (const [key, v] of Object.entries(line)) {
        if (['type', 'step', 'epoch', 'totalSteps'].includes(key) || typeof v !== 'number') continue;
        const name = line.type === 'step' ? `train/${key}` : key === 'train_loss' ? 'train/epoch_loss' : `eval/${key}`;
        if (line.type === 'step' && key === 'samplesPerSec' && v === 0) continue;
        expect([name, line.step, value(name, line.step)]).toEqual([name, line.step, v]);
      }
    }
    expect(history.some((l) => l.type === 'eval')).toBe(true);
  }, 60_000);

  it('a server that answers 500 to everything only warns, once, naming the endpoint and status: the run completes', async () => {
    stub.fail.set('*', pairs.internalError.response);
    const cwd = tempDir('lt-mlflow-500-');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, { trackingUri: stub.uri }), '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/track-mlflow: MLflow experiments\/get-by-name answered 500 INTERNAL_ERROR: \(sqlite3\.OperationalError\) database is locked\. Training goes on; nothing is sent to MLflow for this run\./);
    expect(r.err.match(/track-mlflow/g)).toHaveLength(1);
    expect(stub.requests.map((q) => q.endpoint)).toEqual(['experiments/get-by-name']);
    expect(JSON.parse(readFileSync(join(onlyRun(cwd), 'run.json'), 'utf8')).status).toBe('completed');
  }, 60_000);

  it('500 on log-batch warns once with a count of the rest; the run still ends FINISHED', async () => {
    stub.fail.set('runs/log-batch', pairs.internalError.response);
    const cwd = tempDir('lt-mlflow-batch-');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, { trackingUri: stub.uri }), '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/track-mlflow: MLflow runs\/log-batch answered 500 INTERNAL_ERROR.*these values are missing from the MLflow run/);
    expect(r.err).toMatch(/track-mlflow: \d+ more MLflow requests failed the same way/);
    expect(stub.requests.at(-1)!.body).toMatchObject({ run_id: runId, status: 'FINISHED' });
  }, 60_000);

  it('a run that fails ends its MLflow run FAILED with the error as a tag', async () => {
    const cwd = tempDir('lt-mlflow-fail-');
    writeFileSync(
      join(cwd, 'boom.js'),
      `module.exports = { meta: { name: 'boom', version: '1.0.0', core: '^0.1.0' }, apply(ctx) {
        ctx.hooks.run.tap('boom', (run) => run.hooks.afterStep.tap('boom', (logs) => { if (logs.step === 2) throw new Error('boom at step 3'); }));
      } };`,
    );
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, { trackingUri: stub.uri }, ['./boom.js']), '--quiet']);
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/boom at step 3/);
    expect(stub.requests.at(-1)!.body).toMatchObject({ run_id: runId, status: 'FAILED' });
    const tags = logged(stub).flatMap((b) => b.tags);
    expect(tags.find((t: { key: string }) => t.key === 'leantune.error').value).toMatch(/boom at step 3/);
  }, 60_000);

  it('without a tracking URI the run trains untracked with a warning naming the option and MLFLOW_TRACKING_URI; a bad option fails validation', async () => {
    const cwd = tempDir('lt-mlflow-nouri-');
    const saved = process.env.MLFLOW_TRACKING_URI;
    delete process.env.MLFLOW_TRACKING_URI;
    try {
      const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, {}), '--quiet']);
      expect(r.code).toBe(0);
      expect(r.err).toMatch(/track-mlflow: no tracking server: set the option "trackingUri".*MLFLOW_TRACKING_URI.*This run is not tracked in MLflow\./);
      const bad = await cli(cwd, ['validate', '-c', trackedConfig(cwd, { trackingUri: 'localhost:5000', flushEvery: 0 })]);
      expect(bad.code).not.toBe(0);
      expect(bad.err).toMatch(/flushEvery/);
      expect(bad.err).toMatch(/trackingUri/);
    } finally {
      if (saved !== undefined) process.env.MLFLOW_TRACKING_URI = saved;
    }
    expect(stub.requests).toEqual([]);
  }, 60_000);
});
