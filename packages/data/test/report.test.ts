import { explainEmptyDataset, formatStageDrops, type DataRecord, type Dataset } from '@leantune/core';
import { appendReport, collect, countReport, labelSet, makeRecord, readJsonl, schemaViolation, StageReporter, toDataset } from '@leantune/data';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const rec = (id: string, text?: string): DataRecord => ({ id, text, meta: { source: 's', row: Number(id) } });

describe('StageReporter', () => {
  const input = ['1', '2', '3', '4'].map((id) => rec(id, ` t${id} `));

  it('counts drops by reason and changes among kept records', () => {
    const rep = new StageReporter('clean', 'plugin-x', input);
    rep.drop(input[1], 'empty-text');
    rep.drop(input[3], 'duplicate');
    rep.drop(input[3], 'duplicate'); // the same record twice is one drop
    rep.change(input[0]);
    rep.change(input[1]); // changed then dropped: not counted as changed
    const out = [input[0], input[2]];
    expect(rep.finish(out, { note: 1 })).toEqual({
      stage: 'clean',
      plugin: 'plugin-x',
      in: 4,
      out: 2,
      changed: 1,
      dropped: 2,
      dropReasons: { 'empty-text': 1, duplicate: 1 },
      dropIds: { 'empty-text': [input[1].id], duplicate: [input[3].id] },
      details: { note: 1 },
    });
  });

  it('refuses a drop without a reason, naming the records', () => {
    const rep = new StageReporter('clean', 'plugin-x', input);
    rep.drop(input[0], 'empty-text');
    expect(() => rep.finish([input[1]])).toThrow(/dropped 2 record\(s\) without a reason \(3, 4\)/);
  });

  it('wants kebab-case reasons so reports can be summed', () => {
    const rep = new StageReporter('clean', 'p', input);
    expect(() => rep.drop(input[0], 'Empty text!')).toThrow(/drop reason "Empty text!" must be a short kebab-case key/);
  });
});

describe('countReport and appendReport', () => {
  it('sums reasons and rejects unexplained losses', () => {
    expect(countReport('load', 'p', { in: 10, out: 7, dropReasons: { 'bad-json': 2, 'empty-line': 1 } })).toMatchObject({ dropped: 3, changed: 0 });
    expect(() => countReport('load', 'p', { in: 10, out: 6, dropReasons: { 'bad-json': 2 } })).toThrow(/10 in, 6 out but only 2 drop\(s\)/);
  });

  it('returns a new dataset and leaves the old one as it was', () => {
    const ds: Dataset = { name: 'd', records: [], reports: [] };
    const next = appendReport(ds, countReport('x', 'p', { in: 0, out: 0, dropReasons: {} }));
    expect(ds.reports).toHaveLength(0);
    expect(next.reports).toHaveLength(1);
  });
});

describe('records', () => {
  it('builds ids from provenance and drops undefined fields', () => {
    expect(makeRecord({ text: 'x', label: undefined }, { source: 'f.csv', row: 3 })).toEqual({ id: 'f.csv:3', text: 'x', meta: { source: 'f.csv', row: 3 } });
  });

  it('names what a record lacks for a schema', () => {
    expect(schemaViolation(rec('1', '  '), { text: 'required' })).toBe('missing-text');
    expect(schemaViolation(rec('1', 'x'), { text: 'required', label: 'single' })).toBe('missing-label');
    expect(schemaViolation({ ...rec('1'), image: { data: new Uint8Array(3), shape: [2, 2, 1] } }, { image: 'required' })).toBe('missing-image');
    expect(schemaViolation({ ...rec('1', 'x'), labels: ['a'] }, { text: 'required', label: 'multi' })).toBeUndefined();
  });

  it('sorts numeric labels as numbers', () => {
    expect(labelSet(['10', '9', '1'].map((label, i) => ({ ...rec(String(i)), label })))).toEqual(['1', '9', '10']);
  });
});

describe('drops named for the console', () => {
  const jsonl = async (content: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'lt-drops-')), 'x.jsonl');
    writeFileSync(file, content);
    return toDataset('jsonl', await collect(readJsonl(file)), { plugin: 'p', details: { format: 'jsonl' }, source: 'data/x.jsonl', rowName: 'line' });
  };

  it("a reader's drops: counts, reasons, first lines and the file", async () => {
    const lines = Array.from({ length: 10 }, (_, i) => JSON.stringify({ text: `t${i}`, label: 'a' }));
    lines[2] = '{"text": "cut';
    lines[6] = 'nope';
    const ds = await jsonl(lines.join('\n') + '\n');
    expect(ds.records).toHaveLength(8);
    expect(formatStageDrops(ds.reports[0])).toBe('jsonl reader: dropped 2 of 10 lines of data/x.jsonl: 2 invalid-json (lines 3, 7)');
    expect(formatStageDrops(ds.reports[0], true)).toMatch(/2 invalid-json \(lines 3, 7; e\.g\. not valid JSON \(/);
  });

  it('skips the config asked for (a limit) are marked requested; bad rows are not', () => {
    const skip = (row: number, reason: string, requested?: boolean) => ({ source: 's', row, reason, message: reason, requested });
    const ds = toDataset('d', { records: [], skipped: [skip(1, 'limit-per-class', true), skip(2, 'invalid-json'), skip(3, 'limit-per-class', true)], rows: 3 }, { plugin: 'p' });
    expect(ds.reports[0].requested).toEqual(['limit-per-class']);
    expect(ds.reports[0].dropRows).toEqual({ 'limit-per-class': [1, 3], 'invalid-json': [2] });
  });

  it("a stage's drops name record ids; a stage that drops nothing has no line", () => {
    const input = ['1', '2', '3'].map((id) => rec(id, 't'));
    const rep = new StageReporter('clean', 'plugin-x', input);
    rep.drop(input[0], 'empty-text');
    rep.drop(input[2], 'empty-text');
    expect(formatStageDrops(rep.finish([input[1]]))).toBe('stage "clean" (plugin-x): dropped 2 of 3 records: 2 empty-text (ids 1, 3)');
    expect(formatStageDrops(new StageReporter('clean', 'plugin-x', input).finish(input))).toBeUndefined();
  });

  it('an empty dataset is explained by its file: empty, or every line dropped and why', async () => {
    expect(explainEmptyDataset(await jsonl(''))).toBe('Dataset "jsonl" (data/x.jsonl) has no training records after its stages: data/x.jsonl is empty (no lines to read).');
    expect(explainEmptyDataset(await jsonl('[1]\n{"text": 5}\n'))).toMatch(
      /^Dataset "jsonl" \(data\/x\.jsonl\) has no training records after its stages: jsonl reader: dropped 2 of 2 lines of data\/x\.jsonl: 1 not-an-object \(line 1; e\.g\. each line must be a JSON object\), 1 bad-text \(line 2; e\.g\. field "text" must be a string/,
    );
  });
});
