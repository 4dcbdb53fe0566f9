import { createToolkit, type DataRecord, type Dataset } from '@leantune/core';
import validatePlugin, { validateStage } from '@leantune/plugin-data-validate';
import { dataset, memoryData, quiet, rec, stageContext } from './helpers';

const TOPICS = ['rivers', 'mountains', 'cities', 'forests', 'deserts', 'oceans', 'islands', 'valleys', 'lakes', 'plains'];
/** 20 distinct texts; labels a (12) and b (8). */
function records(): DataRecord[] {
  return Array.from({ length: 20 }, (_, i) =>
    rec(`r${i}`, { text: `Record ${i} describes ${TOPICS[i % 10]} seen in year ${1900 + i * 7} by traveller number ${i * 13}`, label: i < 12 ? 'a' : 'b' }),
  );
}

/** Splits given up front, with one exact and one near copy of training texts in validation. */
function leakyDataset(): Dataset {
  const rs = records();
  rs[15] = { ...rs[15], text: rs[0].text };
  rs[16] = { ...rs[16], text: `${rs[1].text}.` };
  return { ...dataset(rs), splits: { train: rs.slice(0, 14), validation: rs.slice(14) } };
}

describe('validate stage', () => {
  it('reports exact and near-duplicate leakage between splits, counts exact', () => {
    const warnings: string[] = [];
    const out = validateStage.run(leakyDataset(), {}, stageContext(3, warnings)) as Dataset;
    const details = out.reports.at(-1)!.details as Record<string, any>;
    expect(details.mode).toBe('holdout');
    expect(details.kept).toBe(true);
    expect(details.leakage.counts).toEqual({ exact: { 'train-validation': 1 }, near: { 'train-validation': 1 } });
    expect(details.leakage.sample).toEqual([
      { kind: 'exact', between: 'train-validation', id: 'r15', matches: 'r0', similarity: 1 },
      expect.objectContaining({ kind: 'near', between: 'train-validation', id: 'r16', matches: 'r1' }),
    ]);
    expect(details.leakage.sample[1].similarity).toBeGreaterThan(0.9);
    expect(out.reports.at(-1)).toMatchObject({ in: 20, out: 20, dropped: 0 });
    expect(warnings[0]).toMatch(/2 validation\/test record\(s\) repeat a record of an earlier split/);
  });

  it("drops leaking records with action 'drop', each with its reason", () => {
    const out = validateStage.run(leakyDataset(), { leakage: { action: 'drop' } }, stageContext()) as Dataset;
    expect(out.reports.at(-1)).toMatchObject({ in: 20, out: 18, dropped: 2, dropReasons: { 'leak-exact': 1, 'leak-near': 1 } });
    expect(out.splits!.validation.map((r) => r.id)).toEqual(['r14', 'r17', 'r18', 'r19']);
    expect(out.splits!.train).toHaveLength(14);
    const exactOnly = validateStage.run(leakyDataset(), { leakage: { near: { enabled: false } } }, stageContext()) as Dataset;
    expect((exactOnly.reports.at(-1)!.details as any).leakage.total).toBe(1);
  });

  it('deals stratified k folds: each record validates exactly once, each fold holds each label ±1', () => {
    const seen = new Map<string, number>();
    for (let fold = 0; fold < 5; fold++) {
      const out = validateStage.run(dataset(records()), { mode: 'kfold', k: 5, fold }, stageContext(11)) as Dataset;
      const { train, validation } = out.splits!;
      expect(validation).toHaveLength(4);
      expect(train).toHaveLength(16);
      expect(train.filter((r) => validation.includes(r))).toEqual([]);
      const a = validation.filter((r) => r.label === 'a').length;
      expect(a === 2 || a === 3).toBe(true);
      for (const r of validation) seen.set(r.id, (seen.get(r.id) ?? 0) + 1);
    }
    expect(seen.size).toBe(20);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
  });

  it('keeps a test split aside in k-fold, is seeded, and rejects a fold that does not exist', () => {
    const rs = records();
    const withTest = { ...dataset(rs), splits: { train: rs.slice(0, 15), validation: rs.slice(15, 17), test: rs.slice(17) } };
    const out = validateStage.run(withTest, { mode: 'kfold', k: 4, fold: 1 }, stageContext(5)) as Dataset;
    expect(out.splits!.test.map((r) => r.id)).toEqual(['r17', 'r18', 'r19']);
    expect(out.splits!.train.length + out.splits!.validation.length).toBe(17);
    const again = validateStage.run(withTest, { mode: 'kfold', k: 4, fold: 1 }, stageContext(5)) as Dataset;
    const other = validateStage.run(withTest, { mode: 'kfold', k: 4, fold: 1 }, stageContext(6)) as Dataset;
    expect(again.splits!.validation.map((r) => r.id)).toEqual(out.splits!.validation.map((r) => r.id));
    expect(other.splits!.validation.map((r) => r.id)).not.toEqual(out.splits!.validation.map((r) => r.id));
    expect(() => validateStage.run(dataset(rs), { mode: 'kfold', k: 4, fold: 4 }, stageContext())).toThrow(/fold 4 does not exist with k=4; set data.stages.validate.fold to 0..3/);
  });
});

describe('validate stage from a config', () => {
  it('splits a fresh dataset, fails clearly on bad options, and needs a validation split for early stopping', async () => {
    const toolkit = await createToolkit({ plugins: [memoryData(records()), validatePlugin], log: quiet });
    const run = toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { validate: { validation: 0.25 } } } });
    const data = await run.loadData();
    expect(Object.fromEntries(Object.entries(data.splits!).map(([k, v]) => [k, v.length]))).toEqual({ train: 15, validation: 5, test: 0 });
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { validate: { mode: 'kfolds' } } } })).toThrow(/\/data\/stages\/validate\/mode: must be one of "holdout", "kfold"/);
    const stopping = toolkit.createRun({
      model: 'none',
      train: { earlyStopping: { metric: 'accuracy', mode: 'max' } },
      data: { name: 'memory', stages: { validate: { validation: 0 } } },
    });
    await expect(stopping.loadData()).rejects.toThrow(/train.earlyStopping monitors "accuracy" on the validation split, which is empty/);
  });
});
