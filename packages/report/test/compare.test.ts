import { join } from 'node:path';
import { ExperimentError, ExperimentStore, jsonDifferences, runComparison, type ComparisonOptions } from '../src';
import { fakeCommand, tempDir } from './helpers';

function options(dir: string, over: Partial<ComparisonOptions> = {}): ComparisonOptions {
  return {
    storeFile: join(dir, 'runs', 'experiments.sqlite'),
    name: 'cmp',
    configFile: join(dir, 'leantune.json'),
    config: { name: 'cmp' },
    arms: ['good', 'bad'].map((label) => ({ label, method: label, config: { r: 4 }, resolvedConfig: { name: `cmp-${label}`, train: { epochs: 2 } } })),
    seeds: [1, 2],
    primaryMetric: 'accuracy',
    concurrency: 2,
    commandFor: fakeCommand(dir),
    ...over,
  };
}

describe('runComparison', () => {
  it('creates a named experiment, runs it, and prints the table with the verdict', async () => {
    const dir = tempDir('cmp');
    const started: string[] = [];
    const r = await runComparison(options(dir, { onStart: (e, runs) => started.push(`${e.name} ${runs.todo}/${runs.total}`) }));
    expect(r.experiment.name).toMatch(/^cmp-\d{8}-\d{6}$/);
    expect(started).toEqual([`${r.experiment.name} 4/4`]);
    expect(r.result).toMatchObject({ completed: 4, failed: 0 });
    expect(r.text).toContain('| good | good | 2/2 | 0.9150 ± 0.0071 [');
    expect(r.text).toMatch(/Best by mean accuracy: good .*\nEvery other arm is significantly worse than good/);
    expect(r.experiment.status).toBe('completed');
  });

  it('refuses a resume whose seeds, arms or resolved configs changed, naming what changed', async () => {
    const dir = tempDir('cmp-resume');
    const first = await runComparison(options(dir, { arms: options(dir).arms, commandFor: fakeCommand(dir, (arm) => (arm === 'bad' ? 'crash' : 'ok')) }));
    const name = first.experiment.name;
    await expect(runComparison(options(dir, { resume: name, seeds: [1, 2, 3] }))).rejects.toThrow(
      new ExperimentError(`Cannot resume ${name} with seeds 1, 2, 3: it was started with 1, 2. Leave --seeds out when resuming, or start a new comparison.`),
    );
    await expect(runComparison(options(dir, { resume: name, arms: options(dir).arms.slice(0, 1) }))).rejects.toThrow(/it compares good, bad but .*leantune\.json now gives good, without bad\. Resume with every method it has/);
    const changed = options(dir).arms.map((a) => (a.label === 'bad' ? { ...a, resolvedConfig: { ...a.resolvedConfig, train: { epochs: 3 } } } : a));
    await expect(runComparison(options(dir, { resume: name, arms: changed }))).rejects.toThrow(/arm "bad" resolves differently .* \(train\.epochs: 2 → 3\)\. Restore the config/);
    await expect(runComparison(options(dir, { resume: 'nope' }))).rejects.toThrow(/No experiment "nope" in .*experiments\.sqlite\. It holds: cmp-/);
    // The same config resumes: only bad's two failed runs run again.
    const again = await runComparison(options(dir, { resume: name, seeds: undefined }));
    expect(again.result).toMatchObject({ completed: 2, failed: 0, skipped: 2 });
    const store = ExperimentStore.open(options(dir).storeFile);
    expect(store.experiments()).toHaveLength(1);
    expect(store.runs(again.experiment.id).map((r) => `${r.armLabel}/${r.seed}:${r.status}:${r.attempt}`)).toEqual(['good/1:completed:1', 'good/2:completed:1', 'bad/1:completed:2', 'bad/2:completed:2']);
    store.close();
  });

  it('a resume whose config adds an arm runs only that arm, on the experiment\'s seeds, and compares it with the others', async () => {
    const dir = tempDir('cmp-add');
    const first = await runComparison(options(dir));
    const name = first.experiment.name;
    expect(first.analysis.arms.map((a) => a.label)).toEqual(['good', 'bad']);
    const base = options(dir).arms;
    // A description is documentation: a changed one does not block the resume.
    const redescribed = base.map((a) => ({ ...a, resolvedConfig: { ...a.resolvedConfig, description: 'now with a third arm' } }));
    const third = { label: 'good-again', method: 'good', config: { r: 8 }, resolvedConfig: { name: 'cmp-good-again', train: { epochs: 2 } } };
    const started: Array<{ todo: number; total: number; added: string[] }> = [];
    const again = await runComparison(options(dir, { resume: name, seeds: undefined, arms: [...redescribed, third], onStart: (_e, runs) => started.push(runs) }));
    expect(started).toEqual([{ todo: 2, total: 6, added: ['good-again'] }]);
    expect(again.result).toMatchObject({ completed: 2, failed: 0, skipped: 4 });
    expect(again.experiment.status).toBe('completed');
    expect(again.analysis.arms.map((a) => `${a.label}:${a.completedSeeds.length}`)).toEqual(['good:2', 'bad:2', 'good-again:2']);
    expect(again.text).toContain('| good-again | good | 2/2 |');
    const store = ExperimentStore.open(options(dir).storeFile);
    expect(store.runs(again.experiment.id).map((r) => `${r.armLabel}/${r.seed}:${r.attempt}`)).toEqual(['good/1:1', 'good/2:1', 'bad/1:1', 'bad/2:1', 'good-again/1:1', 'good-again/2:1']);
    store.close();
    // The same config again: nothing left to run, nothing added.
    const third2 = await runComparison(options(dir, { resume: name, seeds: undefined, arms: [...base, third] }));
    expect(third2.result).toMatchObject({ completed: 0, skipped: 6 });
  });

  it('jsonDifferences names dotted paths, at most six', () => {
    expect(jsonDifferences({ a: { b: 1, c: [1, 2] } }, { a: { b: 2, c: [1, 3] }, d: true })).toEqual(['a.b: 1 → 2', 'a.c.1: 2 → 3', 'd: (absent) → true']);
    expect(jsonDifferences(Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, i])), {})).toHaveLength(6);
  });
});
