import { createToolkit, type DataRecord } from '@leantune/core';
import cleanPlugin, { cleanStage, normalizeText, type CleanOptions } from '@leantune/plugin-data-clean';
import { dataset, memoryData, quiet, rec, stageContext } from './helpers';

const longA = 'The quick brown fox jumps over the lazy dog near the river bank';
const longB = 'An entirely different sentence about cooking pasta at home tonight';

function handMade(): DataRecord[] {
  return [
    rec('r1', { text: 'Hello \t  world', label: 'a' }),
    rec('r2', { text: 'Hello world', label: 'a' }),
    rec('r3', { text: 'Ｈｅｌｌｏ world', label: 'a' }),
    rec('r4', { text: ' \n\u200b ', label: 'a' }),
    rec('r5', { text: 'hi', label: 'b' }),
    rec('r6', { text: longA, label: 'a' }),
    rec('r7', { text: `${longA}!`, label: 'a' }),
    rec('r8', { text: 'Spam offer: buy cheap watches now, limited time only', label: 'spam' }),
    rec('r9', { text: 'Spam offer: buy cheap watches now, limited time only', label: 'ham' }),
    rec('r10', { text: longB, label: 'b' }),
    rec('r11', { text: `${longB}.`, label: 'a' }),
    rec('r12', { text: 42 as unknown as string, label: 'a' }),
  ];
}

const options: CleanOptions = { minLength: 3, nearDuplicates: { threshold: 0.8 } };

describe('clean stage on hand-made records', () => {
  it('normalises, filters, removes exact and near duplicates and reports conflicts, with exact counts', () => {
    const input = handMade();
    const warnings: string[] = [];
    const out = cleanStage.run(dataset(input), options, stageContext(7, warnings)) as ReturnType<typeof dataset>;
    expect(out.records.map((r) => r.id)).toEqual(['r1', 'r6', 'r8', 'r9', 'r10', 'r11']);
    expect(out.records[0].text).toBe('Hello world');
    const report = out.reports.at(-1)!;
    expect(report).toMatchObject({
      stage: 'clean',
      in: 12,
      out: 6,
      changed: 1,
      dropped: 6,
      dropReasons: { 'exact-duplicate': 2, 'empty-text': 1, 'too-short': 1, 'near-duplicate': 1, 'malformed-text': 1 },
    });
    expect(report.details?.conflictCount).toBe(2);
    expect(report.details?.conflicts).toEqual([
      { kind: 'exact', ids: ['r8', 'r9'], labels: ['ham', 'spam'] },
      { kind: 'near', ids: ['r10', 'r11'], labels: ['a', 'b'] },
    ]);
    expect(report.details?.duplicateSample).toEqual([
      { kept: 'r1', dropped: 'r2', reason: 'exact-duplicate' },
      { kept: 'r1', dropped: 'r3', reason: 'exact-duplicate' },
      { kept: 'r6', dropped: 'r7', reason: 'near-duplicate' },
    ]);
    expect(warnings[0]).toMatch(/2 group\(s\) of duplicate inputs carry different labels/);
    // The input records are untouched.
    expect(input[0].text).toBe('Hello \t  world');
  });

  it("drops every record of a conflicting group with conflicts: 'drop'", () => {
    const out = cleanStage.run(dataset(handMade()), { ...options, conflicts: 'drop' }, stageContext()) as ReturnType<typeof dataset>;
    expect(out.records.map((r) => r.id)).toEqual(['r1', 'r6']);
    expect(out.reports.at(-1)!.dropReasons).toEqual({ 'exact-duplicate': 2, 'empty-text': 1, 'too-short': 1, 'near-duplicate': 1, 'malformed-text': 1, 'conflicting-label': 4 });
  });

  it('is deterministic and independent of the MinHash seed (pairs are confirmed exactly)', () => {
    const a = cleanStage.run(dataset(handMade()), options, stageContext(1));
    const b = cleanStage.run(dataset(handMade()), options, stageContext(1));
    const c = cleanStage.run(dataset(handMade()), options, stageContext(99));
    expect(b).toEqual(a);
    expect((c as typeof a).records.map((r) => r.id)).toEqual((a as typeof a).records.map((r) => r.id));
  });

  it('removes exact duplicate images, keeps texts when passes are off, and keeps an unlabelled duplicate out', () => {
    const img = () => ({ data: new Uint8Array([0, 1, 2, 3]), shape: [2, 2, 1] as [number, number, number] });
    const input = [rec('i1', { image: img(), label: '1' }), rec('i2', { image: img(), label: '1' }), rec('u1', { text: 'x y z' }), rec('u2', { text: 'x y z', label: 'k' })];
    const out = cleanStage.run(dataset(input), { nearDuplicates: { enabled: false } }, stageContext()) as ReturnType<typeof dataset>;
    expect(out.records.map((r) => r.id)).toEqual(['i1', 'u2']);
    const off = cleanStage.run(dataset(input), { nearDuplicates: { enabled: false }, exactDuplicates: false }, stageContext()) as ReturnType<typeof dataset>;
    expect(off.records).toHaveLength(4);
  });

  it('normalizeText folds compatibility forms and whitespace', () => {
    expect(normalizeText('ﬁne\r\n\r\n\r\n\r\nline  two\u00a0 ', { unicode: 'NFKC', whitespace: true })).toBe('fine\n\nline two');
    expect(normalizeText('ﬁ  x', { unicode: 'none', whitespace: false })).toBe('ﬁ  x');
  });
});

describe('clean stage from a config', () => {
  it('runs under data.stages.clean and fails clearly on bad options', async () => {
    const toolkit = await createToolkit({ plugins: [memoryData(handMade()), cleanPlugin], log: quiet });
    const run = toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { clean: { minLength: 3, nearDuplicates: { threshold: 0.8 } } } } });
    const data = await run.loadData();
    expect(data.records).toHaveLength(6);
    expect(data.reports.map((r) => r.stage)).toEqual(['clean']);
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { clean: { minLenght: 3 } } } })).toThrow(/\/data\/stages\/clean.*minLenght/);
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { clean: { conflicts: 'delete' } } } })).toThrow(/\/data\/stages\/clean\/conflicts: must be one of "report", "drop"/);
  });
});
