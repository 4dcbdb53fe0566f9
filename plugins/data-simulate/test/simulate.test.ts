import type { DataRecord, Dataset, RunContext } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { expand, generateImages, generateText, insidePolygon, jitterAffine, mixSynthetic, renderDigit, renderStrokes, simulateStage, transform } from '@leantune/plugin-data-simulate';

const ctx = (logs: string[] = []): RunContext => ({ runName: 't', config: {} as RunContext['config'], tf, log: { info: (m) => logs.push(m), warn: (m) => logs.push(`warn: ${m}`) }, seed: 5, configDir: '/', datasetLabels: async () => undefined, loadDatasetSpec: async () => { throw new Error('no datasets in this test'); }, state: new Map() });
const rec = (id: string, label: string): DataRecord => ({ id, label, meta: { source: 'real', row: 0 } });

describe('raster', () => {
  it('a 1-px horizontal stroke through the middle of a 4×4 canvas: half intensity on the two rows it touches', () => {
    const img = renderStrokes([[[0, 0.5], [1, 0.5]]], 4, 1);
    expect(Array.from(img)).toEqual([0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0]);
  });

  it('affine jitter: identity, and a 90° turn about the centre (y down) takes right-middle to bottom-middle', () => {
    expect(jitterAffine(0, 1, 1, 0, 0, 0)).toEqual([1, 0, 0, 0, 1, 0]);
    const [[p]] = transform([[[1, 0.5]]], jitterAffine(90, 1, 1, 0, 0, 0));
    expect(p[0]).toBeCloseTo(0.5, 12);
    expect(p[1]).toBeCloseTo(1, 12);
    expect(insidePolygon(0.5, 0.5, [[0, 0], [1, 0], [1, 1], [0, 1]])).toBe(true);
    expect(insidePolygon(1.5, 0.5, [[0, 0], [1, 0], [1, 1], [0, 1]])).toBe(false);
  });
});

describe('image generators', () => {
  it('a digit is a seeded 28×28 image in [0, 1]: same seed same pixels, another seed other pixels', () => {
    const a = renderDigit('7', 11);
    expect(a.image.shape).toEqual([28, 28, 1]);
    expect(renderDigit('7', 11).image.data).toEqual(a.image.data);
    expect(renderDigit('7', 12).image.data).not.toEqual(a.image.data);
    const values = Array.from(a.image.data);
    expect(Math.min(...values)).toBe(0);
    expect(Math.max(...values)).toBe(1);
    const ink = values.reduce((s, v) => s + v, 0);
    expect(ink).toBeGreaterThan(40); // a stroke, not a dot
    expect(ink).toBeLessThan(300); // and not a filled block
    expect(() => renderDigit('x', 1)).toThrow('renderDigit: no template for label "x"; labels: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9');
  });

  it('generateImages tags records synthetic and record k does not depend on how many are made', () => {
    const few = generateImages('shapes', ['circle', 'square', 'triangle'], 4, 3);
    const many = generateImages('shapes', ['circle', 'square', 'triangle'], 9, 3);
    expect(few.map((r) => r.label)).toEqual(['circle', 'square', 'triangle', 'circle']);
    expect(few[3]).toEqual(many[3]);
    expect(few[0]).toMatchObject({ id: 'simulate:shapes:3:0', meta: { source: 'simulate:shapes', row: 0, synthetic: true, seed: 3 } });
    expect(() => generateImages('digits', ['1'], -1, 0)).toThrow('count must be an integer >= 0 (got -1)');
  });
});

describe('text grammar', () => {
  it('expands by the rng, recursively', () => {
    const draws = [0.1, 0.9];
    expect(expand({ s: ['a {x}', 'b'], x: ['1', '2'] }, 's', () => draws.shift()!)).toBe('a 2');
  });

  it('is seeded, tags records, and names undefined or runaway symbols', () => {
    const a = generateText(['spam', 'ham'], 6, 9);
    expect(generateText(['spam', 'ham'], 6, 9)).toEqual(a);
    expect(a.map((r) => r.label)).toEqual(['spam', 'ham', 'spam', 'ham', 'spam', 'ham']);
    expect(a.every((r) => r.meta.synthetic === true && typeof r.text === 'string' && !r.text.includes('{'))).toBe(true);
    expect(() => generateText(['s'], 1, 0, { s: ['hi {who}'] })).toThrow('Grammar symbol "s" refers to {who}, which is not defined');
    expect(() => generateText(['s'], 1, 0, { s: ['x {s}'] })).toThrow(/deeper than 20; a rule refers to itself/);
    expect(() => generateText(['t'], 1, 0, { s: ['x'] })).toThrow('Grammar has no alternatives for start symbol "t"');
  });
});

describe('mixing', () => {
  it('adds round(ratio × count) per supported label after the real records, and lists the rest', () => {
    const real = [rec('a', 'circle'), rec('b', 'circle'), rec('c', 'circle'), rec('d', 'square'), rec('e', 'blob'), rec('f', 'blob')];
    const mix = mixSynthetic(real, { kind: 'shapes', ratio: 1.5, seed: 1 });
    expect(mix.perLabel).toEqual({ circle: 5, square: 2 }); // round(4.5) = 5, round(1.5) = 2
    expect(mix.added).toBe(7);
    expect(mix.unsupported).toEqual(['blob']);
    expect(mix.records.slice(0, 6)).toEqual(real);
    expect(mix.records[0]).toBe(real[0]);
    expect(mix.records.slice(6).every((r) => r.meta.synthetic === true)).toBe(true);
    expect(mixSynthetic(real, { kind: 'shapes', ratio: 1.5, seed: 1 })).toEqual(mix);
  });

  it('bad options fail clearly', () => {
    expect(() => mixSynthetic([rec('a', '1')], { kind: 'audio' as never, ratio: 1, seed: 0 })).toThrow('kind must be one of "digits", "shapes", "text" (got "audio")');
    expect(() => mixSynthetic([rec('a', '1')], { kind: 'digits', ratio: -1, seed: 0 })).toThrow('ratio must be a finite number >= 0');
    expect(() => mixSynthetic([rec('a', 'pos')], { kind: 'text', ratio: 1, seed: 0 })).toThrow('the text generator has no label in common with the data (labels: pos); give a grammar');
  });
});

describe('simulate stage', () => {
  it('adds synthetic records to the train split and records only, with a counted report', () => {
    const train = [rec('t1', 'spam'), rec('t2', 'ham')];
    const validation = [rec('v1', 'ham')];
    const ds: Dataset = { name: 'd', records: [...train, ...validation], splits: { train, validation }, reports: [] };
    const out = simulateStage.run(ds, { kind: 'text', ratio: 2 }, ctx()) as Dataset;
    expect(out.splits!.train).toHaveLength(6);
    expect(out.splits!.validation).toBe(validation);
    expect(out.records).toHaveLength(7);
    expect(ds.records).toHaveLength(3); // input untouched
    expect(out.reports[0]).toMatchObject({ stage: 'simulate', in: 3, out: 7, dropped: 0, details: { added: 4, perLabel: { ham: 2, spam: 2 }, into: 'train split' } });
  });

  it('without splits adds to records, and warns about labels it cannot generate', () => {
    const logs: string[] = [];
    const ds: Dataset = { name: 'd', records: [rec('a', '3'), rec('b', 'x')], reports: [] };
    const out = simulateStage.run(ds, { kind: 'digits', ratio: 1 }, ctx(logs)) as Dataset;
    expect(out.records.map((r) => r.label)).toEqual(['3', 'x', '3']);
    expect(out.reports[0].details).toMatchObject({ into: 'records', unsupported: ['x'] });
    expect(logs).toEqual(['warn: simulate: no digits generator for label(s) x; none added for them']);
  });
});
