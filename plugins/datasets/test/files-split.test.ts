import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createToolkit, type Dataset } from '@leantune/core';
import { holdoutSplit, labelCounts, type ImageArray } from '@leantune/data';
import { tinyDataPlugin } from '@leantune/testing';
import datasetsPlugin, { splitStage } from '@leantune/plugin-datasets';
import { runContext } from './helpers';

const quiet = { info: () => {}, warn: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'leantune-datasets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 30 'pos' and 20 'neg' lines plus two malformed ones. */
const jsonl = [
  ...Array.from({ length: 50 }, (_, i) => JSON.stringify({ text: `review ${i}`, label: i < 30 ? 'pos' : 'neg' })),
  '{oops',
  JSON.stringify({ text: 7, label: 'pos' }),
].join('\n');

function idx(typeCode: number, dims: number[], body: number[]): Buffer {
  const head = Buffer.alloc(4 + 4 * dims.length);
  head[2] = typeCode;
  head[3] = dims.length;
  dims.forEach((d, i) => head.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([head, Buffer.from(body)]);
}

beforeAll(() => {
  writeFileSync(join(dir, 'reviews.jsonl'), jsonl);
  writeFileSync(join(dir, 'reviews.csv'), 'body,stars\n"good, very",5\nbad,1\nno stars\n');
  writeFileSync(join(dir, 'img.gz'), gzipSync(idx(0x08, [2, 1, 2], [1, 2, 3, 4])));
  writeFileSync(join(dir, 'lab'), idx(0x08, [2], [4, 2]));
  mkdirSync(join(dir, 'pics', 'a'), { recursive: true });
  writeFileSync(join(dir, 'pics', 'a', 'x.jpg'), 'not decoded');
});

async function load(data: Record<string, unknown>, options: Record<string, unknown> = { baseDir: dir }, configDir?: string): Promise<Dataset> {
  const tk = await createToolkit({ plugins: [[datasetsPlugin, options]], log: quiet });
  return tk.createRun({ model: 'unused', data, runtime: { seed: 5 } }, { configDir }).loadData();
}

describe('file datasets through a run', () => {
  it('loads JSONL relative to baseDir and reports malformed rows', async () => {
    const ds = await load({ name: 'jsonl', path: 'reviews.jsonl' });
    expect(ds.records).toHaveLength(50);
    expect(ds.reports[0]).toMatchObject({ stage: 'load', in: 52, out: 50, dropReasons: { 'invalid-json': 1, 'bad-text': 1 } });
    // The core runs every registered stage, so the split stage applies its defaults (0.2 validation).
    expect(ds.splits!.validation).toHaveLength(10);
  });

  it('loads CSV with mapped columns', async () => {
    const ds = await load({ name: 'csv', path: join(dir, 'reviews.csv'), text: 'body', label: 'stars', as: 'stars' });
    expect(ds.name).toBe('stars');
    expect(ds.records.map((r) => [r.text, r.label])).toEqual([
      ['good, very', '5'],
      ['bad', '1'],
    ]);
    expect(ds.reports[0].dropReasons).toEqual({ 'wrong-column-count': 1 });
  });

  it('loads IDX pairs (gzip detected by content) and image folders', async () => {
    const ds = await load({ name: 'idx', images: 'img.gz', labels: 'lab' });
    expect(ds.records.map((r) => [r.label, Array.from((r.image as ImageArray).data)])).toEqual([
      ['4', [1, 2]],
      ['2', [3, 4]],
    ]);
    const pics = await load({ name: 'image-folder', path: 'pics' });
    expect(pics.records).toHaveLength(0);
    expect(pics.reports[0].dropReasons).toEqual({ 'needs-decoder': 1 });
  });

  it("resolves from the config file's folder without baseDir", async () => {
    const ds = await load({ name: 'jsonl', path: 'reviews.jsonl' }, {}, dir);
    expect(ds.records).toHaveLength(50);
  });

  it('resolves from the working directory without baseDir or config folder, and names the path it tried', async () => {
    await expect(load({ name: 'jsonl', path: 'no/such.jsonl' }, {})).rejects.toThrow(`JSONL file not found: ${join(process.cwd(), 'no/such.jsonl')}`);
    await expect(load({ name: 'csv' })).rejects.toThrow(/Dataset "csv" needs a "path" option/);
  });

  it('never modifies the source file', async () => {
    const before = readFileSync(join(dir, 'reviews.jsonl'), 'utf8');
    await load({ name: 'jsonl', path: 'reviews.jsonl', stages: { split: {} } });
    expect(readFileSync(join(dir, 'reviews.jsonl'), 'utf8')).toBe(before);
  });
});

describe('split stage', () => {
  it('splits with the run seed by default, stratified, and reports counts', async () => {
    const ds = await load({ name: 'jsonl', path: 'reviews.jsonl', stages: { split: { validation: 0.2, test: 0.2 } } });
    const { train, validation, test } = ds.splits!;
    expect([train.length, validation.length, test.length]).toEqual([30, 10, 10]);
    expect(labelCounts(validation)).toEqual({ neg: 4, pos: 6 });
    expect(labelCounts(test)).toEqual({ neg: 4, pos: 6 });
    // Same records as the library's holdout with seed = runtime.seed (5).
    const direct = holdoutSplit(ds.records, { validation: 0.2, test: 0.2, seed: 5 });
    expect(validation.map((r) => r.id)).toEqual(direct.validation.map((r) => r.id));
    const report = ds.reports.find((r) => r.stage === 'split')!;
    expect(report).toMatchObject({ plugin: '@leantune/plugin-datasets', in: 50, out: 50, dropped: 0, details: { seed: 5, counts: { train: 30, validation: 10, test: 10 } } });
  });

  it('uses its own seed when given and defaults validation to 0.2', async () => {
    const a = await load({ name: 'jsonl', path: 'reviews.jsonl', stages: { split: { seed: 99 } } });
    expect(a.splits!.validation).toHaveLength(10);
    expect(a.splits!.test).toHaveLength(0);
    const direct = holdoutSplit(a.records, { validation: 0.2, seed: 99 });
    expect(a.splits!.validation.map((r) => r.id)).toEqual(direct.validation.map((r) => r.id));
  });

  it('rejects bad options at config validation', async () => {
    await expect(load({ name: 'jsonl', path: 'reviews.jsonl', stages: { split: { validation: 1.5 } } })).rejects.toThrow(/validation/);
  });

  it('leaves an existing split alone unless force', async () => {
    const logs: string[] = [];
    const tk = await createToolkit({ plugins: [datasetsPlugin, tinyDataPlugin], log: { info: (m) => logs.push(m), warn: (m) => logs.push(m) } });
    const kept = await tk.createRun({ model: 'unused', data: { name: 'tiny-sentiment', stages: { split: {} } } }).loadData();
    expect(kept.splits!.train).toHaveLength(48);
    expect(kept.splits!.validation).toHaveLength(16);
    expect(kept.reports.at(-1)!.details).toMatchObject({ kept: true });
    expect(logs).toContain('split: dataset "tiny-sentiment" is already split ({"train":48,"validation":16}); kept as is (set force: true to re-split)');
    const forced = await tk.createRun({ model: 'unused', data: { name: 'tiny-sentiment', stages: { split: { force: true, validation: 0.5 } } } }).loadData();
    expect(forced.splits!.validation).toHaveLength(32);
    expect(labelCounts(forced.splits!.validation)).toEqual({ neg: 16, pos: 16 });
  });

  it('names the stage in the error for fractions that leave no training data', () => {
    const ds: Dataset = { name: 'd', records: [{ id: '1', meta: { source: 's', row: 0 } }], reports: [] };
    expect(() => splitStage.run(ds, { validation: 0.5, test: 0.5 }, runContext())).toThrow(/data\.stages\.split: .*must be below 1/);
  });
});

describe('the classes stage', () => {
  const reviews = { name: 'jsonl', path: 'reviews.jsonl' };
  it('keeps the listed classes in the listed order, before the split, and reports the rest as asked', async () => {
    const ds = await load({ ...reviews, stages: { classes: { keep: ['neg'] }, split: { validation: 0.5, seed: 1 } } });
    expect(ds.labels).toEqual(['neg']);
    expect(ds.records).toHaveLength(20);
    expect(ds.records.every((r) => r.label === 'neg')).toBe(true);
    expect(ds.splits!.train.length + ds.splits!.validation.length).toBe(20);
    const report = ds.reports.find((r) => r.stage === 'classes')!;
    expect(report).toMatchObject({ in: 50, out: 20, dropped: 30, dropReasons: { 'other-class': 30 }, requested: ['other-class'], details: { labels: ['neg'] } });
    expect(report.dropIds!['other-class']).toHaveLength(5);
  });

  it('drop leaves the other classes in the dataset\'s order; without options nothing changes', async () => {
    const dropped = await load({ ...reviews, stages: { classes: { drop: ['neg'] } } });
    expect(dropped.labels).toEqual(['pos']);
    expect(dropped.records).toHaveLength(30);
    const plain = await load(reviews);
    expect(plain.records).toHaveLength(50);
    expect(plain.reports.some((r) => r.stage === 'classes')).toBe(false);
  });

  it('names an unknown class, close names and the dataset\'s classes; refuses keep with drop', async () => {
    await expect(load({ ...reviews, stages: { classes: { keep: ['Neg'] } } })).rejects.toThrow(/data\.stages\.classes\.keep: dataset "jsonl" has no class "Neg"\. Close: "neg"\. Its classes: "neg", "pos"/);
    await expect(load({ ...reviews, stages: { classes: { keep: ['neg'], drop: ['pos'] } } })).rejects.toThrow(/not both/);
    await expect(load({ ...reviews, stages: { classes: { keep: [] } } })).rejects.toThrow(/classes/);
  });
});
