import { existsSync } from 'node:fs';
import { analyze, autoConcurrency, classifyExit, hashPath, runExperiment, verdict, type ProgressSink } from '../src';
import { fakeCommand, fakeExperiment, tempDir } from './helpers';

function recorder(): ProgressSink & { events: string[]; maxRunning: number } {
  let running = 0;
  const rec = {
    events: [] as string[],
    maxRunning: 0,
    plan: (total: number, done: number, concurrency: number) => rec.events.push(`plan ${total} ${done} ${concurrency}`),
    started: (r: { armLabel: string; seed: number }) => {
      running++;
      rec.maxRunning = Math.max(rec.maxRunning, running);
      rec.events.push(`start ${r.armLabel}/${r.seed}`);
    },
    step: () => undefined,
    finished: (r: { armLabel: string; seed: number }, status: string) => {
      running--;
      rec.events.push(`${status} ${r.armLabel}/${r.seed}`);
    },
    stop: () => rec.events.push('stop'),
  };
  return rec;
}

describe('runner', () => {
  it('runs arms × seeds in a pool; an arm that crashes is recorded with its reason while the others finish', async () => {
    const dir = tempDir('runner');
    const { store, exp } = fakeExperiment(dir, ['good', 'crashy', 'bad'], [1, 2]);
    const progress = recorder();
    const result = await runExperiment({
      store,
      experimentId: exp.id,
      concurrency: 2,
      commandFor: fakeCommand(dir, (arm) => (arm === 'crashy' ? 'crash' : 'ok'), { FAKE_STEP_MS: '20' }),
      progress,
    });
    expect(result).toEqual({ completed: 4, failed: 2, skipped: 0, interrupted: false, concurrency: 2 });
    expect(progress.maxRunning).toBe(2);
    const runs = store.runs(exp.id);
    expect(runs.map((r) => `${r.armLabel}/${r.seed}:${r.status}`)).toEqual(['good/1:completed', 'good/2:completed', 'crashy/1:failed', 'crashy/2:failed', 'bad/1:completed', 'bad/2:completed']);
    const crashed = runs.find((r) => r.armLabel === 'crashy')!;
    expect(crashed).toMatchObject({ exitCode: 3, signal: null, failureKind: 'crashed', failureReason: 'exit 3: Error: the arm crashes on purpose' });
    expect(crashed.stderrTail).toContain('at tick (fake-train.js');
    // Completed runs: every step once, the final metrics, the summary figures and the adapter's hash.
    const good1 = runs[0];
    expect(store.stepMetrics(exp.id).filter((s) => s.runId === good1.id).map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.evalMetrics(good1.id).filter((e) => e.split === 'validation' && e.name === 'accuracy')).toEqual([
      { split: 'validation', step: 6, name: 'accuracy', value: 0.91, text: null },
    ]);
    expect(good1).toMatchObject({ trainable: 1000, totalParams: 100000, savedBytes: 4000, peakRssMB: 300, totalSteps: 6, exitCode: 0 });
    const [adapter, weights] = store.artifacts(good1.id);
    expect(adapter.kind).toBe('adapter:good');
    expect(adapter.sha256).toBe(hashPath(adapter.path).sha256);
    expect(weights.kind).toBe('trainable-weights');
    // The environment takes the backend, its threads and the plugins' versions from the runs.
    expect(store.environment(exp.id)).toMatchObject({ backend: 'fake-cpu', threads: 3, versions: { '@leantune/plugin-good': '0.1.0', '@leantune/plugin-bad': '0.1.0' } });
    expect(store.environment(exp.id).versions['better-sqlite3']).toMatch(/^12\./);
    expect(store.experiment(String(exp.id)).status).toBe('incomplete');
    store.close();
  });

  it('--resume skips finished runs and reruns failed and unfinished ones, each run once in the store', async () => {
    const dir = tempDir('resume');
    const { store, exp } = fakeExperiment(dir, ['good', 'crashy'], [1, 2]);
    await runExperiment({ store, experimentId: exp.id, concurrency: 1, commandFor: fakeCommand(dir, (arm, seed) => (arm === 'crashy' && seed === 1 ? 'crash' : 'ok')) });
    // A coordinator killed while good/2 ran leaves it "running" with half its steps.
    const good2 = store.runs(exp.id).find((r) => r.armLabel === 'good' && r.seed === 2)!;
    store.startRun(good2.id, 999999);
    store.addMetrics(good2.id, [{ step: 1, loss: 9 }, { step: 2, loss: 8 }]);
    const progress = recorder();
    const result = await runExperiment({ store, experimentId: exp.id, concurrency: 2, commandFor: fakeCommand(dir), progress });
    expect(result).toEqual({ completed: 2, failed: 0, skipped: 2, interrupted: false, concurrency: 2 });
    expect(progress.events[0]).toBe('plan 4 2 2');
    expect(progress.events.filter((e) => e.startsWith('start')).sort()).toEqual(['start crashy/1', 'start good/2']);
    const runs = store.runs(exp.id);
    expect(runs.map((r) => `${r.armLabel}/${r.seed}:${r.status}:${r.attempt}`)).toEqual(['good/1:completed:1', 'good/2:completed:3', 'crashy/1:completed:2', 'crashy/2:completed:1']);
    for (const r of runs) expect(store.stepMetrics(exp.id).filter((s) => s.runId === r.id).map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(store.attempts(runs[2].id).map((a) => `${a.attempt}:${a.status}:${a.failureKind}`)).toEqual(['1:failed:crashed', '2:completed:null']);
    expect(store.experiment(String(exp.id)).status).toBe('completed');
    store.close();
  });

  it('tells out-of-memory, SIGKILL and exit-0-without-summary apart', async () => {
    const dir = tempDir('oom');
    const { store, exp } = fakeExperiment(dir, ['oomy', 'killed'], [1]);
    await runExperiment({ store, experimentId: exp.id, concurrency: 2, commandFor: fakeCommand(dir, (arm) => (arm === 'oomy' ? 'oom' : 'sigkill')) });
    const [oomy, killed] = store.runs(exp.id);
    expect(oomy).toMatchObject({ status: 'failed', failureKind: 'out-of-memory', signal: 'SIGABRT' });
    expect(oomy.failureReason).toMatch(/^out of memory \(SIGABRT\): FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory/);
    expect(killed).toMatchObject({ status: 'failed', failureKind: 'killed', signal: 'SIGKILL' });
    expect(killed.failureReason).toMatch(/killed by SIGKILL .*out-of-memory killer/);
    expect(classifyExit(0, null, '', false)).toEqual({ kind: 'no-summary', reason: 'exited 0 without a summary line on stdout' });
    expect(classifyExit(130, null, 'leantune: interrupted at step 3\n', false)).toEqual({ kind: 'interrupted', reason: 'interrupted (exit 130): leantune: interrupted at step 3' });
    store.close();
  });

  it('records a command that cannot start as a failed run', async () => {
    const dir = tempDir('spawn');
    const { store, exp } = fakeExperiment(dir, ['good'], [1]);
    await runExperiment({ store, experimentId: exp.id, concurrency: 1, commandFor: () => ({ command: '/nonexistent/leantune', args: [] }) });
    expect(store.runs(exp.id)[0]).toMatchObject({ status: 'failed', failureKind: 'spawn-error' });
    expect(store.runs(exp.id)[0].failureReason).toMatch(/could not start \/nonexistent\/leantune: spawn \/nonexistent\/leantune ENOENT/);
    store.close();
  });

  it('auto concurrency: one per core, as many as 80% of free memory holds by the largest estimate, at least one', () => {
    expect(autoConcurrency(8, 10_000, [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000])).toBe(8);
    expect(autoConcurrency(8, 10_000, Array(10).fill(2500))).toBe(3); // 8000 / 2500
    expect(autoConcurrency(2, 100_000, [500, 500, 500])).toBe(2);
    expect(autoConcurrency(16, 100_000, [500, 500])).toBe(2); // no more than the runs left
    expect(autoConcurrency(4, 500, [4000])).toBe(1);
    expect(autoConcurrency(4, 500, [])).toBe(1);
  });

  it('with "auto", sizes the pool from the machine and the peak RSS the store saw for each arm', async () => {
    const dir = tempDir('auto');
    const { store, exp } = fakeExperiment(dir, ['good', 'bad'], [1, 2]);
    const progress = recorder();
    // good's estimate is its recorded 300 MB only after a first experiment; here the default 1024 MB applies: 0.8·2600/1024 → 2.
    await runExperiment({ store, experimentId: exp.id, concurrency: 'auto', machine: { cores: 4, freeMemoryMB: 2600 }, commandFor: fakeCommand(dir, undefined, { FAKE_STEP_MS: '30' }), progress });
    expect(progress.maxRunning).toBe(2);
    expect(store.observedPeakRssMB('good', 'good')).toBe(300);
    const second = fakeExperiment(dir, ['good', 'bad'], [1, 2], 'second');
    const progress2 = recorder();
    // Now estimates are 300 and 200 MB: 0.8·1000/300 → 2 … with 4 cores and 4 runs, memory is the limit.
    await runExperiment({ store: second.store, experimentId: second.exp.id, concurrency: 'auto', machine: { cores: 4, freeMemoryMB: 1000 }, commandFor: fakeCommand(dir, undefined, { FAKE_STEP_MS: '30' }), progress: progress2 });
    expect(progress2.maxRunning).toBe(2);
    store.close();
    second.store.close();
  });

  it('statistics over the stored seeds: the best arm, the arms it cannot be told from, the Pareto front', async () => {
    const dir = tempDir('analysis');
    const { store, exp } = fakeExperiment(dir, ['good', 'same', 'bad'], [1, 2, 3]);
    await runExperiment({ store, experimentId: exp.id, concurrency: 2, commandFor: fakeCommand(dir) });
    const a = analyze(store, 'fake');
    expect(a.best).toBe('good');
    // good: 0.91 0.92 0.90 → mean 0.91, std 0.01; same: 0.908−0.004·… → paired differences 0.002, −0.002, 0.006.
    const good = a.arms.find((x) => x.label === 'good')!;
    expect(good.metrics.accuracy.mean).toBeCloseTo(0.91, 10);
    expect(good.metrics.accuracy.std).toBeCloseTo(0.01, 10);
    const same = a.arms.find((x) => x.label === 'same')!;
    expect(same.versusBest!.meanDiff).toBeCloseTo(0.002, 10);
    // t = 0.002 / (0.004/√3) = 0.8660 with 2 df: p = 1 − t/√(2 + t²) = 0.4778.
    expect(same.versusBest!.t).toBeCloseTo(0.866025, 5);
    expect(same.versusBest!.p).toBeCloseTo(1 - 0.866025 / Math.sqrt(2 + 0.75), 5);
    expect(same.versusBest!.distinguishable).toBe(false);
    expect(a.arms.find((x) => x.label === 'bad')!.versusBest).toMatchObject({ p: 0, distinguishable: true });
    expect(a.notDistinguishable).toEqual(['same']);
    // Memory: bad 200 MB (0.61), same 250 (0.908), good 300 (0.91): each buys accuracy with memory.
    expect(a.pareto.sort()).toEqual(['bad', 'good', 'same']);
    expect(verdict(a)).toMatch(/^Best by mean accuracy: good \(0\.9100 ± 0\.0100 \[0\.8852, 0\.9348\], 3 seeds\)\.\nNot distinguishable from good \(paired t-test \(two-sided\), same seeds, alpha 0\.05\): same \(p=0\.478, n=3\)\. No single winner among these\.$/);
    expect(existsSync(store.file)).toBe(true);
    store.close();
  });
});
