import type { DataRecord, Dataset } from '@leantune/core';
import { appendReport, countReport, labelSet, makeRecord, schemaViolation, StageReporter } from '@leantune/data';

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
