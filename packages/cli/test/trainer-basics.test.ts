import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, localConfig, fixtures, jsonLines, onlyRun, tempDir, tinyLora } from './helpers';

// Issue 18, items 2 and 3: evaluation on the run's own split, and the trainer basics
// (evalEvery, saveBest, a test split, per-class scores, failed runs, impossible schedules).
const override = (value: object) => ['--override', JSON.stringify(value)];
const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8'));
/** tiny-lora with the datasets plugin's split stage re-splitting tiny-sentiment. */
const withSplit = (split: object, train: object = {}) => ({
  plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }, { name: join(fixtures, 'tiny-data.js'), allowOutside: true }, 'lora', 'datasets'],
  data: { name: 'tiny-sentiment', count: 64, stages: { split: { force: true, ...split } } },
  train: { epochs: 2, batchSize: 8, learningRate: 0.05, ...train },
});

describe('evaluation uses the split the run trained with', () => {
  const cwd = tempDir('lt-split-');
  let dir = '';

  beforeAll(async () => {
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', ...override(withSplit({ validation: 0.25 }))]);
    expect(r.code).toBe(0);
    dir = onlyRun(cwd);
  }, 30_000);

  it('records the split in splits.json: seed, stage options, ids and their hash', () => {
    const split = readJson(join(dir, 'splits.json'));
    expect(split).toMatchObject({ format: 'leantune-splits', dataset: 'tiny-sentiment', seed: 7, counts: { train: 48, validation: 16, test: 0 } });
    expect(split.data.stages.split).toMatchObject({ validation: 0.25, force: true });
    expect(split.ids.validation).toHaveLength(16);
    expect(split.sha256.validation).toMatch(/^[0-9a-f]{64}$/);
    expect(split.ids.train.filter((id: string) => split.ids.validation.includes(id))).toEqual([]);
  });

  it('--data without stages keeps the run\'s split (16 records at 0.25), not the stage default 0.2', async () => {
    const r = await cli(cwd, ['eval', dir, '--json', '--data', JSON.stringify({ name: 'tiny-sentiment', count: 64 })]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ split: 'validation', count: 16, trainingOverlap: 0 });
    expect(r.err).toBe('');
  });

  it('--data that overlaps the training records is reported, naming how many', async () => {
    const data = { name: 'tiny-sentiment', count: 64, stages: { split: { force: true, validation: 0.5, seed: 1 } } };
    const r = await cli(cwd, ['eval', dir, '--json', '--data', JSON.stringify(data)]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.count).toBe(32);
    expect(report.trainingOverlap).toBeGreaterThan(0);
    expect(r.err).toContain(`warning: ${report.trainingOverlap} of the 32 evaluated records (validation of dataset "tiny-sentiment") are among the 48 records the model trained on (${join(dir, 'splits.json')})`);
  });

  it('a run folder and its adapter folder evaluate on exactly the recorded ids, not on a split computed again', async () => {
    const file = join(dir, 'splits.json');
    const split = readJson(file);
    const kept = split.ids.validation.slice(0, 5);
    writeFileSync(file, JSON.stringify({ ...split, ids: { ...split.ids, validation: kept } }));
    const fromRun = await cli(cwd, ['eval', dir, '--json']);
    expect(fromRun.code).toBe(0);
    expect(JSON.parse(fromRun.out)).toMatchObject({ split: 'validation', count: 5, source: file, trainingOverlap: 0 });
    expect((await cli(cwd, ['eval', dir])).out.split('\n')[0]).toBe(`${dir} on tiny-sentiment (validation, 5 records; records from ${file})`);
    // tiny-lora.json's own data is split 48/16 by its loader; the adapter's run recorded 5.
    const fromAdapter = await cli(cwd, ['eval', '-c', tinyLora, '--adapter', join(dir, 'adapters', 'lora'), '--json']);
    expect(fromAdapter.code).toBe(0);
    expect(JSON.parse(fromAdapter.out)).toMatchObject({ split: 'validation', count: 5, source: file });
    writeFileSync(file, JSON.stringify({ ...split, ids: { ...split.ids, validation: [...kept, 'tiny-999'] } }));
    const missing = await cli(cwd, ['eval', dir]);
    expect(missing.code).toBe(2);
    expect(missing.err).toContain(`lists 1 of 6 record(s) that dataset "tiny-sentiment" no longer yields (e.g. tiny-999)`);
    writeFileSync(file, JSON.stringify(split));
  });
});

describe('trainer basics', () => {
  it('train.evalEvery evaluates every N steps besides each epoch; the history and stderr show them', async () => {
    const cwd = tempDir('lt-evalevery-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), ...override({ train: { epochs: 2, batchSize: 8, learningRate: 0.05, evalEvery: 4 } })]);
    expect(r.code).toBe(0);
    const history = jsonLines(readFileSync(join(onlyRun(cwd), 'metrics.jsonl'), 'utf8'));
    // 6 steps per epoch: step 4 and 8 are evaluated on their own; 12 is the second epoch's end.
    expect(history.filter((h) => h.type === 'eval').map((h) => h.step)).toEqual([4, 8]);
    expect(history.filter((h) => h.type === 'epoch').map((h) => h.step)).toEqual([6, 12]);
    expect(history.find((h) => h.type === 'eval')).toEqual(expect.objectContaining({ loss: expect.any(Number), accuracy: expect.any(Number), macro_f1: expect.any(Number) }));
    expect(r.err).toMatch(/^step 4: loss \d\.\d{4}, accuracy \d\.\d{4}, macro_f1 \d\.\d{4}$/m);
  }, 30_000);

  it('train.saveBest keeps the best evaluation\'s weights and reports the best and the last', async () => {
    const cwd = tempDir('lt-best-');
    // At this learning rate the validation loss swings: its lowest (step 16) is not its last (step 18).
    const train = { epochs: 3, batchSize: 8, learningRate: 0.3, evalEvery: 2, saveBest: { metric: 'loss', mode: 'min' } };
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--json', ...override({ train })]);
    expect(r.code).toBe(0);
    const events = jsonLines(r.out);
    const summary = events.at(-1);
    const evals = events.filter((e) => e.type === 'eval' || e.type === 'epoch');
    const best = evals.reduce((a, b) => (b.loss < a.loss ? b : a));
    const last = evals.at(-1);
    expect(summary.best).toMatchObject({ step: best.step, metric: 'loss', value: best.loss });
    expect(best.step).not.toBe(last.step);
    expect(summary.last).toMatchObject({ step: last.step });
    expect(summary.last.metrics.loss).toBe(last.loss);
    expect(summary.metrics.loss).toBe(best.loss);
    const dir = onlyRun(cwd);
    const metrics = readJson(join(dir, 'metrics.json'));
    expect(metrics.best).toEqual(summary.best);
    expect(metrics.last).toEqual(summary.last);
    // The run folder holds the best weights: evaluating it reproduces the best loss.
    const ev = await cli(cwd, ['eval', dir, '--json']);
    expect(JSON.parse(ev.out).metrics.loss).toBeCloseTo(best.loss, 6);
  }, 30_000);

  it('a saveBest metric that no evaluation gives fails naming it, and run.json says "failed" with the error', async () => {
    const cwd = tempDir('lt-failed-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--quiet', ...override({ train: { epochs: 1, batchSize: 8, learningRate: 0.05, saveBest: { metric: 'bleu' } } })]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('saveBest.metric "bleu" is not among the evaluation metrics');
    const record = readJson(join(onlyRun(cwd), 'run.json'));
    expect(record.status).toBe('failed');
    expect(record.error).toContain('saveBest.metric "bleu" is not among the evaluation metrics');
  }, 30_000);

  it('a test split is evaluated at the end and reported apart from validation', async () => {
    const cwd = tempDir('lt-test-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--json', ...override(withSplit({ validation: 0.25, test: 0.25 }, { epochs: 1 }))]);
    expect(r.code).toBe(0);
    const summary = jsonLines(r.out).at(-1);
    expect(summary.test).toEqual(expect.objectContaining({ count: 16, loss: expect.any(Number), accuracy: expect.any(Number), macro_f1: expect.any(Number) }));
    expect(summary.metrics.count).toBeUndefined();
    const dir = onlyRun(cwd);
    expect(readJson(join(dir, 'metrics.json')).test).toEqual(summary.test);
    const ev = await cli(cwd, ['eval', dir, '--split', 'test', '--json']);
    expect(JSON.parse(ev.out).metrics.accuracy).toBeCloseTo(summary.test.accuracy, 10);
  }, 30_000);

  it('metrics carry per-class precision, recall and F1; eval prints them per class', async () => {
    const cwd = tempDir('lt-perclass-');
    const r = await cli(cwd, ['train', '-c', localConfig(cwd), '--json', ...override({ train: { epochs: 1, batchSize: 8, learningRate: 0.05 } })]);
    expect(r.code).toBe(0);
    const { metrics } = jsonLines(r.out).at(-1);
    for (const key of ['precision/neg', 'recall/neg', 'f1/neg', 'precision/pos', 'recall/pos', 'f1/pos']) expect(metrics[key]).toEqual(expect.any(Number));
    expect((metrics['f1/neg'] + metrics['f1/pos']) / 2).toBeCloseTo(metrics.macro_f1, 10);
    const ev = await cli(cwd, ['eval', onlyRun(cwd)]);
    expect(ev.out).toMatch(/precision\s+recall\s+f1\s+support\n\s+neg\s+\d\.\d{4}\s+\d\.\d{4}\s+\d\.\d{4}\s+\d+\n\s+pos/);
  }, 30_000);

  it('warmup as long as the run fails validate and train before anything is written, naming the field and the total', async () => {
    const cwd = tempDir('lt-warmup-');
    const config = localConfig(cwd);
    const base = readJson(config);
    writeFileSync(config, JSON.stringify({ ...base, train: { ...base.train, schedule: { type: 'linear', warmupSteps: 12 } } }));
    // 48 training records at batch size 8: 6 steps per epoch, 2 epochs, 12 steps in all.
    for (const args of [['validate', '-c', config], ['train', '-c', config]]) {
      const r = await cli(cwd, args);
      expect(r.code).toBe(2);
      expect(r.err).toContain('/train/schedule/warmupSteps: 12 warmup steps, but the run has only 12 steps in all (2 epoch(s) × 6 step(s) per epoch: 48 training records at batchSize 8)');
    }
    expect(() => onlyRun(cwd)).toThrow();
    const { data: _data, ...noData } = readJson(config);
    writeFileSync(config, JSON.stringify({ ...noData, train: { ...noData.train, maxSteps: 5, schedule: { warmupSteps: 5 } } }));
    const r = await cli(cwd, ['validate', '-c', config]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${config}: /train/schedule/warmupSteps: 5 warmup steps, but the run has only 5 steps in all (train.maxSteps 5)`);
  }, 30_000);

  it("evalStrategy 'end' with saveBest fails validate, naming both", async () => {
    const cwd = tempDir('lt-eval-end-');
    const config = localConfig(cwd);
    const base = readJson(config);
    writeFileSync(config, JSON.stringify({ ...base, train: { ...base.train, evalStrategy: 'end', saveBest: { metric: 'accuracy', mode: 'max' } } }));
    const r = await cli(cwd, ['validate', '-c', config]);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`/train/saveBest chooses among evaluations after each epoch, but train.evalStrategy "end" evaluates only once`);
  }, 30_000);
});
