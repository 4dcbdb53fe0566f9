import { createRunHooks, type Run } from '@leantune/core';
import { trackRun, type KeyValue, type Metric, type MlflowClient } from '../src';

/** A run with real hooks and a context that records warnings; the client is a fake whose runs/create waits until released. */
function setup(maxPending: number) {
  const warnings: string[] = [];
  const hooks = createRunHooks();
  const run = { hooks, context: { runName: 'r', runDir: '/runs/20260101-r', config: { name: 'r' }, log: { info() {}, warn: (m: string) => warnings.push(m) } } } as unknown as Run;
  let release!: () => void;
  const created = new Promise<void>((resolve) => (release = resolve));
  const calls: { metrics: Metric[]; params: KeyValue[]; tags: KeyValue[] }[] = [];
  const updates: string[] = [];
  const client = {
    baseUrl: 'http://stub',
    experimentId: async () => '1',
    createRun: async () => (await created, { run_id: 'run-1', experiment_id: '1' }),
    logBatch: async (_id: string, metrics: Metric[], params: KeyValue[] = [], tags: KeyValue[] = []) => void calls.push({ metrics, params, tags }),
    updateRun: async (_id: string, status: string) => void updates.push(status),
  } as unknown as MlflowClient;
  const tracker = trackRun(run, client, { experimentName: 'e', tags: {}, flushEvery: 100, maxPending, timeoutMs: 1000, logParams: false });
  return { hooks, run, release, calls, updates, warnings, tracker };
}

describe('trackRun', () => {
  it('keeps at most maxPending metrics while the server does not answer: the oldest are dropped, counted in a tag and a warning', async () => {
    const { hooks, run, release, calls, updates, warnings, tracker } = setup(1000);
    await hooks.beforeTrain.promise({} as never);
    for (let step = 0; step < 600; step++) hooks.afterStep.call({ step, epoch: 0, loss: 1 / (step + 1), lr: 0.1 }, {} as never);
    release();
    await hooks.save.promise({ dir: '/runs/20260101-r', files: {} }, run.context);
    await tracker.idle();
    const metrics = calls.flatMap((c) => c.metrics);
    expect(metrics).toHaveLength(1000);
    expect(metrics[0]).toMatchObject({ key: 'train/loss', step: 101 });
    expect(metrics.at(-1)).toMatchObject({ key: 'train/lr', step: 600 });
    expect(calls.every((c) => c.metrics.length <= 1000)).toBe(true);
    expect(calls.flatMap((c) => c.tags)).toContainEqual({ key: 'leantune.droppedMetrics', value: '200' });
    expect(updates).toEqual(['FINISHED']);
    expect(warnings).toEqual(['track-mlflow: 200 metrics were dropped while the server did not keep up ("maxPending" 1000).']);
  });
});
