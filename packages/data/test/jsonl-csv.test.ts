import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { collect, readCsv, readJsonl, toDataset } from '@leantune/data';
import { tempDir } from './helpers';

const tmp = tempDir('rows');
afterAll(() => tmp.cleanup());

describe('readJsonl', () => {
  const lines = [
    '{"text":"good film","label":"pos","id":"a"}',
    '{"text":"bad film","label":"neg"}',
    '{"text": broken',
    '[1,2]',
    '',
    '{"text":42,"label":"pos"}',
    '{"text":"ok","label":{"x":1}}',
    '{"text":"tagged","tags":["x","y"]}',
    '{"text":"badtags","tags":["x",null]}',
  ];

  it('yields records with provenance and counts each malformed row by reason', async () => {
    const file = tmp.path('a.jsonl');
    writeFileSync(file, lines.join('\n') + '\n');
    const got = await collect(readJsonl(file, { labels: 'tags', id: 'id' }));
    expect(got.rows).toBe(9);
    expect(got.records.map((r) => [r.id, r.text, r.label, r.meta.row])).toEqual([
      ['a', 'good film', 'pos', 1],
      ['a.jsonl:2', 'bad film', 'neg', 2],
      ['a.jsonl:8', 'tagged', undefined, 8],
    ]);
    expect(got.records[2].labels).toEqual(['x', 'y']);
    expect(got.skipped.map((s) => [s.row, s.reason])).toEqual([
      [3, 'invalid-json'],
      [4, 'not-an-object'],
      [5, 'empty-line'],
      [6, 'bad-text'],
      [7, 'bad-label'],
      [9, 'bad-labels'],
    ]);
    const ds = toDataset('a', got, { plugin: 'test' });
    expect(ds.reports[0]).toMatchObject({ stage: 'load', in: 9, out: 3, dropped: 6 });
    expect(ds.reports[0].dropReasons).toEqual({ 'invalid-json': 1, 'not-an-object': 1, 'empty-line': 1, 'bad-text': 1, 'bad-label': 1, 'bad-labels': 1 });
    expect(ds.labels).toEqual(['neg', 'pos', 'x', 'y']);
  });

  it('reads gzip files and maps custom fields; a schema turns missing fields into skips', async () => {
    const file = tmp.path('b.jsonl.gz');
    writeFileSync(file, gzipSync('{"body":"x","y":1}\n{"body":"z"}\n'));
    const got = await collect(readJsonl(file, { text: 'body', label: 'y' }), { schema: { text: 'required', label: 'single' } });
    expect(got.records.map((r) => [r.text, r.label])).toEqual([['x', 1]]);
    expect(got.skipped.map((s) => [s.row, s.reason])).toEqual([[2, 'missing-label']]);
  });

  it('names the file when it does not exist', async () => {
    await expect(collect(readJsonl(tmp.path('nope.jsonl')))).rejects.toThrow(/JSONL file not found: .*nope\.jsonl/);
  });
});

describe('readCsv', () => {
  it('maps columns by name, keeps quoted commas/newlines, skips malformed rows with reasons', async () => {
    const file = tmp.path('a.csv');
    const csv = [
      'id,review,sentiment,extra',
      '1,"good, really",pos,x',
      '2,"two\nlines",neg,y',
      '3,short row',
      '4,too,many,cells,here',
      '5,,pos,z',
      '6,text,,z',
      '7,she said "hi",pos,z',
      '',
      '8,last,neg,z',
    ].join('\n');
    writeFileSync(file, csv + '\n');
    const got = await collect(readCsv(file, { text: 'review', label: 'sentiment', id: 'id' }));
    expect(got.records.map((r) => [r.id, r.text, r.label, r.meta.row, r.meta.line])).toEqual([
      ['1', 'good, really', 'pos', 1, 2],
      ['2', 'two\nlines', 'neg', 2, 4],
      ['7', 'she said "hi"', 'pos', 7, 9],
      ['8', 'last', 'neg', 9, 11],
    ]);
    expect(got.skipped.map((s) => [s.row, s.reason])).toEqual([
      [3, 'wrong-column-count'],
      [4, 'wrong-column-count'],
      [5, 'missing-text'],
      [6, 'missing-label'],
      [8, 'empty-line'],
    ]);
    expect(got.rows).toBe(9);
  });

  it('reports an unclosed quote as one skip naming the lines lost', async () => {
    const file = tmp.path('b.csv');
    writeFileSync(file, 'text,label\nfine,a\n"never closed,b\nmore,a\n');
    const got = await collect(readCsv(file));
    expect(got.records.map((r) => r.text)).toEqual(['fine']);
    expect(got.skipped).toHaveLength(1);
    expect(got.skipped[0].reason).toBe('unclosed-quote');
    expect(got.skipped[0].message).toMatch(/lines 3\.\.\d/);
  });

  it('reads headerless files by column index and splits multi-label cells', async () => {
    const file = tmp.path('c.tsv');
    writeFileSync(file, 'a doc\tsport|news\nother\tart\n');
    const got = await collect(readCsv(file, { header: false, delimiter: '\t', text: 0, labels: 1 }));
    expect(got.records.map((r) => [r.text, r.labels])).toEqual([
      ['a doc', ['sport', 'news']],
      ['other', ['art']],
    ]);
  });

  it('names the missing column and lists those there are', async () => {
    const file = tmp.path('d.csv');
    writeFileSync(file, 'review,stars\nok,5\n');
    await expect(collect(readCsv(file, { label: 'sentiment', text: 'review' }))).rejects.toThrow(
      /has no column "sentiment" \(option "label"\)\. Columns: "review", "stars"/,
    );
  });
});

describe('per-record byte cap (maxRecordBytes)', () => {
  it('JSONL: a line over the cap fails naming the file, the line and the option; lines at the cap, CRLF and a last line without newline read', async () => {
    const file = tmp.path('cap.jsonl');
    const atCap = JSON.stringify({ text: 'x'.repeat(100 - 23), label: 'a' }); // 100 bytes
    expect(Buffer.byteLength(atCap)).toBe(100);
    writeFileSync(file, `${atCap}\n{"text":"é","label":"b"}\r\n${atCap}`);
    const ok = await collect(readJsonl(file, { maxRecordBytes: 100 }));
    expect(ok.records.map((r) => [r.text?.length, r.label, r.meta.row])).toEqual([[77, 'a', 1], [1, 'b', 2], [77, 'a', 3]]);
    expect(ok.records[1].text).toBe('é');
    writeFileSync(file, `{"text":"short","label":"a"}\n${JSON.stringify({ text: 'y'.repeat(200), label: 'a' })}\n`);
    await expect(collect(readJsonl(file, { maxRecordBytes: 100 }))).rejects.toThrow(
      `JSONL ${file} line 2 is longer than 100 bytes, the per-record cap; if the file really holds records this large, raise "maxRecordBytes" in the config's data section`,
    );
  });

  it('JSONL: a line of 64 MiB is refused after reading no more than the cap of it', async () => {
    const file = tmp.path('huge.jsonl');
    writeFileSync(file, `{"text":"${'z'.repeat(64 * 1024 * 1024)}"}\n`);
    const before = process.memoryUsage().arrayBuffers;
    await expect(collect(readJsonl(file, { maxRecordBytes: 1024 * 1024 }))).rejects.toThrow(/line 1 is longer than 1048576 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('CSV: a record over the cap (a long cell, or an unclosed quote) fails naming the file and the option', async () => {
    const file = tmp.path('cap.csv');
    writeFileSync(file, `text,label\nshort,a\n"${'w'.repeat(500)}",b\n`);
    await expect(collect(readCsv(file, { maxRecordBytes: 100 }))).rejects.toThrow(new RegExp(`CSV ${file} line \\d+ is longer than 100 bytes.*"maxRecordBytes"`));
    expect((await collect(readCsv(file, { maxRecordBytes: 1000 }))).records).toHaveLength(2);
  });
});
