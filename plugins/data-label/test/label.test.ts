import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit, type DataRecord, type Dataset, type RunContext } from '@leantune/core';
import { createRng, type ImageArray } from '@leantune/data';
import labelPlugin, { createLabelPlugin, createLabelStage, knnProbabilities, tfidf } from '@leantune/plugin-data-label';
import { dataset, memoryData, quiet, rec, stageContext } from './helpers';

const stage = createLabelStage();
const run = (d: Dataset, options: object, ctx: RunContext = stageContext()) => stage.run(d, options, ctx) as Promise<Dataset>;

const SPAM = 'cheap pills buy now offer winner cash prize free money click'.split(' ');
const HAM = 'meeting agenda project report schedule team review budget minutes notes'.split(' ');
/** n texts per class from two disjoint vocabularies, seeded. */
function twoClass(n: number, seed = 1): DataRecord[] {
  const rng = createRng(seed);
  const text = (words: string[]) => Array.from({ length: 8 }, () => words[Math.floor(rng() * words.length)]).join(' ');
  return Array.from({ length: 2 * n }, (_, i) => rec(`r${i}`, { text: text(i % 2 ? HAM : SPAM), label: i % 2 ? 'ham' : 'spam' }));
}

describe('features and kNN', () => {
  it('computes TF-IDF as the formula says', () => {
    const [a, b] = tfidf(['apple apple pear', 'pear']);
    // df(pear)=2, df(apple)=1; idf = ln(3/(1+df)) + 1; tf = 1 + ln(count); terms sorted by df: pear=0, apple=1.
    const wPear = Math.log(3 / 3) + 1;
    const wApple = (1 + Math.log(2)) * (Math.log(3 / 2) + 1);
    const norm = Math.hypot(wPear, wApple);
    expect(Array.from(a.idx)).toEqual([0, 1]);
    expect(a.val[0]).toBeCloseTo(wPear / norm, 6);
    expect(a.val[1]).toBeCloseTo(wApple / norm, 6);
    expect(Array.from(b.val)).toEqual([1]);
  });

  it('is uniform, never confident, for a query that shares nothing with the references', () => {
    const vecs = tfidf(['cat dog', 'cat fish', 'zebra']);
    const [p] = knnProbabilities([vecs[2]], [vecs[0], vecs[1]], [0, 0], 2, 2);
    expect(Array.from(p)).toEqual([0.5, 0.5]);
  });
});

describe('label stage', () => {
  it('machine-labels unlabelled records above the threshold and leaves the rest', async () => {
    const input = [...twoClass(6), rec('u1', { text: 'free cash prize winner now' }), rec('u2', { text: 'a quiet walk along the river' })];
    const out = await run(dataset(input), { autoLabel: { k: 3, threshold: 0.8 } });
    const u1 = out.records.find((r) => r.id === 'u1')!;
    expect(u1.label).toBe('spam');
    expect(u1.meta).toMatchObject({ labelSource: 'machine' });
    expect(u1.meta.labelConfidence).toBeGreaterThan(0.99);
    expect(out.records.find((r) => r.id === 'u2')!.label).toBeUndefined();
    expect(out.reports.at(-1)).toMatchObject({ stage: 'label', in: 14, out: 14, changed: 1, dropped: 0 });
    expect(out.reports.at(-1)!.details!.autoLabel).toMatchObject({ candidates: 2, labelled: 1, stillUnlabelled: 1, byLabel: { spam: 1 } });
    expect(input[12].label).toBeUndefined();
  });

  it('labels images by raw pixels', async () => {
    const img = (left: boolean, v: number): ImageArray => ({ data: Float32Array.from({ length: 16 }, (_, i) => ((i % 4 < 2) === left ? v : 0)), shape: [4, 4, 1] });
    const input = [rec('a1', { image: img(true, 1), label: 'L' }), rec('a2', { image: img(true, 0.5), label: 'L' }), rec('b1', { image: img(false, 1), label: 'R' }), rec('b2', { image: img(false, 0.7), label: 'R' }), rec('q', { image: img(false, 0.2) })];
    const out = await run(dataset(input), { autoLabel: { k: 2 } });
    expect(out.records.find((r) => r.id === 'q')!.label).toBe('R');
  });

  it('finds deliberately flipped labels with confident learning, and drops them on request', async () => {
    const input = twoClass(20);
    const flipped = ['r10', 'r3'];
    for (const r of input) if (flipped.includes(r.id)) r.label = r.label === 'spam' ? 'ham' : 'spam';
    const out = await run(dataset(input), { noise: { folds: 5, k: 5 } });
    const noise = out.reports.at(-1)!.details!.noise as { suspects: Array<{ id: string; given: string; suggested: string }>; suspectCount: number };
    expect(noise.suspects.map((s) => s.id).sort()).toEqual(flipped);
    expect(noise.suspects.find((s) => s.id === 'r3')).toMatchObject({ given: 'spam', suggested: 'ham' });
    expect(out.records).toHaveLength(40);
    const dropped = await run(dataset(input), { noise: { folds: 5, k: 5, action: 'drop' } });
    expect(dropped.reports.at(-1)).toMatchObject({ in: 40, out: 38, dropped: 2, dropReasons: { 'suspected-label-noise': 2 } });
    // Seeded: the same seed gives the same report.
    expect((await run(dataset(input), { noise: { folds: 5, k: 5 } })).reports).toEqual(out.reports);
  });

  describe('manual label import', () => {
    const dir = mkdtempSync(join(tmpdir(), 'leantune-label-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('applies labels by id from CSV and counts unknown ids and malformed rows', async () => {
      writeFileSync(join(dir, 'labels.csv'), 'id,label\nr0,ham\nr1,ham\nnope,spam\nr2,\nr3,spam,extra\n');
      const warnings: string[] = [];
      const out = await run(dataset(twoClass(2)), { import: { path: 'labels.csv' } }, { ...stageContext(7, warnings), configDir: dir } as RunContext);
      expect(out.records.map((r) => [r.id, r.label, r.meta.labelSource])).toEqual([
        ['r0', 'ham', 'manual'],
        ['r1', 'ham', 'manual'],
        ['r2', 'spam', undefined],
        ['r3', 'ham', undefined],
      ]);
      expect(out.reports.at(-1)!.changed).toBe(1);
      expect(out.reports.at(-1)!.details!.import).toMatchObject({ rows: 5, applied: 2, unknownIds: 1, unknownSample: ['nope'], skipped: { 'missing-label': 1, 'wrong-column-count': 1 } });
      expect(warnings[0]).toMatch(/1 id\(s\) in .*labels.csv match no record \(e.g. nope\)/);
    });

    it('reads JSONL with custom fields and counts invalid lines', async () => {
      writeFileSync(join(dir, 'labels.jsonl'), '{"key":"r1","y":"spam"}\nnot json\n{"y":"ham"}\n');
      const out = await run(dataset(twoClass(2)), { import: { path: join(dir, 'labels.jsonl'), idField: 'key', labelField: 'y' } });
      expect(out.records[1].label).toBe('spam');
      expect(out.reports.at(-1)!.details!.import).toMatchObject({ rows: 3, applied: 1, unknownIds: 0, skipped: { 'invalid-json': 1, 'missing-id': 1 } });
    });
  });

  it('takes a named feature source and rejects an unknown one clearly', async () => {
    const custom = createLabelPlugin({ featureSources: { firstChar: (rs) => rs.map((r) => [r.text!.startsWith('a') ? 1 : 0, r.text!.startsWith('a') ? 0 : 1]) } });
    const toolkit = await createToolkit({
      plugins: [memoryData([rec('x1', { text: 'apple', label: 'A' }), rec('x2', { text: 'berry', label: 'B' }), rec('x3', { text: 'avocado' })]), custom],
      log: quiet,
    });
    const data = await toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { label: { features: 'firstChar', autoLabel: { k: 1 } } } } }).loadData();
    expect(data.records[2].label).toBe('A');
    await expect(run(dataset([rec('x', { text: 'a', label: 'A' }), rec('y', { text: 'b' })]), { features: 'embeddings' })).rejects.toThrow(/unknown feature source "embeddings". Known: auto, tfidf, pixels/);
  });

  it('fails clearly on bad options in the config', async () => {
    const toolkit = await createToolkit({ plugins: [memoryData(twoClass(2)), labelPlugin], log: quiet });
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { label: { autoLabel: { threshold: 2 } } } } })).toThrow(/\/data\/stages\/label\/autoLabel\/threshold/);
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { label: { import: {} } } } })).toThrow(/\/data\/stages\/label\/import.*path/);
  });
});
