import { createToolkit, type Dataset } from '@leantune/core';
import { createRng, type ImageArray } from '@leantune/data';
import augmentPlugin, { augmentStage, augmentText, createAugmenter, randomDeletion, randomSwap, synonymReplace, synonymTable, templateParaphrase, transformImage } from '@leantune/plugin-data-augment';
import { dataset, memoryData, quiet, rec, stageContext } from './helpers';

const img3 = (): ImageArray => ({ data: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), shape: [3, 3, 1] });
const rows = (img: ImageArray) => [0, 1, 2].map((y) => Array.from(img.data.slice(y * 3, y * 3 + 3)));
const none = { angle: 0, dx: 0, dy: 0, flip: false, noise: 0 };
const zero = () => 0;

describe('image transforms', () => {
  it('rotates, shifts and flips by the exact pixel mapping, filling with 0', () => {
    expect(rows(transformImage(img3(), { ...none, angle: 90 }, zero))).toEqual([
      [3, 6, 9],
      [2, 5, 8],
      [1, 4, 7],
    ]);
    expect(rows(transformImage(img3(), { ...none, dx: 1 }, zero))).toEqual([
      [0, 1, 2],
      [0, 4, 5],
      [0, 7, 8],
    ]);
    expect(rows(transformImage(img3(), { ...none, dy: -1 }, zero))).toEqual([
      [4, 5, 6],
      [7, 8, 9],
      [0, 0, 0],
    ]);
    expect(rows(transformImage(img3(), { ...none, flip: true }, zero))).toEqual([
      [3, 2, 1],
      [6, 5, 4],
      [9, 8, 7],
    ]);
    expect(rows(transformImage(img3(), none, zero))).toEqual(rows(img3()));
  });

  it('adds noise within the pixel range and keeps the input untouched', () => {
    const input: ImageArray = { data: new Uint8Array(100).fill(250), shape: [10, 10, 1] };
    const out = transformImage(input, { ...none, noise: 20 }, createRng(3));
    expect(out.data).toBeInstanceOf(Uint8Array);
    expect(Math.max(...out.data)).toBe(255);
    expect(Math.min(...out.data)).toBeLessThan(250);
    expect(input.data.every((v) => v === 250)).toBe(true);
  });
});

describe('text operations', () => {
  const table = synonymTable();
  it('replaces words from the table keeping case and punctuation', () => {
    expect(table.get('good')).toEqual(['fine', 'great', 'nice']);
    expect(synonymReplace(['Good', 'car!', 'zebra'], 0.5, table, zero)).toEqual(['Fine', 'automobile!', 'zebra']);
    expect(synonymReplace(['Good'], 0, table, zero)).toEqual(['Good']);
    expect(synonymTable([['zebra', 'stripes']]).get('zebra')).toEqual(['stripes']);
  });

  it('deletes and swaps words by the rng', () => {
    const seq = (values: number[]) => () => values.shift() ?? 0;
    expect(randomDeletion(['a', 'b', 'c', 'd'], 0.5, seq([0.9, 0.1, 0.9, 0.1]))).toEqual(['a', 'c']);
    expect(randomDeletion(['a', 'b'], 1, seq([0, 0, 0.6]))).toEqual(['b']);
    expect(randomSwap(['a', 'b', 'c', 'd'], 0.25, seq([0, 0.75]))).toEqual(['d', 'b', 'c', 'a']);
    expect(templateParaphrase('I do not know', seq([0, 0]))).toBe("I don't know");
    expect(templateParaphrase('plain words', seq([0]))).toBe('In short, plain words');
  });

  it('is seeded: the same rng seed gives the same text, another seed another', () => {
    const policy = { synonym: 0.3, deletion: 0.1, swap: 0.1, paraphrase: 0.5 };
    const text = 'Buy cheap watches now, it is a good offer and a great deal for a small price';
    const a = augmentText(text, policy, table, createRng(1));
    expect(augmentText(text, policy, table, createRng(1))).toBe(a);
    expect(augmentText(text, policy, table, createRng(2))).not.toBe(a);
    expect(a).not.toBe(text);
  });
});

describe('augment stage', () => {
  it('attaches the policy without generating or dropping records, and the augmenter copies records', () => {
    const input = [rec('t1', { text: 'a good day', label: 'pos' }), rec('i1', { image: img3(), label: '1' }), rec('n1', { label: 'x' })];
    const out = augmentStage.run(dataset(input), { image: { rotation: 0, translation: 0, flip: true } }, stageContext()) as Dataset;
    expect(out.records).toEqual(input);
    expect(out.reports.at(-1)).toMatchObject({ stage: 'augment', in: 3, out: 3, changed: 0, dropped: 0 });
    expect(out.reports.at(-1)!.details).toMatchObject({ textRecords: 1, imageRecords: 1, untouched: 1 });
    const augmented = out.augment!(input[1], () => 0.25);
    expect(rows(augmented.image as ImageArray)).toEqual([
      [3, 2, 1],
      [6, 5, 4],
      [9, 8, 7],
    ]);
    expect(rows(input[1].image as ImageArray)).toEqual(rows(img3()));
    expect(out.augment!(input[2], createRng(1))).toBe(input[2]);
    // probability 0: nothing is augmented.
    expect(createAugmenter({ probability: 0 })(input[0], createRng(1))).toBe(input[0]);
  });

  it('runs from data.stages.augment and fails clearly on bad options', async () => {
    const toolkit = await createToolkit({ plugins: [memoryData([rec('t1', { text: 'x', label: 'a' })]), augmentPlugin], log: quiet });
    const data = await toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { augment: { text: { synonym: 0.5 } } } } }).loadData();
    expect(typeof data.augment).toBe('function');
    expect((data.reports.at(-1)!.details as any).policy.text).toEqual({ enabled: true, synonym: 0.5, deletion: 0.1, swap: 0.1, paraphrase: 0 });
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { augment: { image: { rotation: -5 } } } } })).toThrow(/\/data\/stages\/augment\/image\/rotation/);
    expect(() => toolkit.createRun({ model: 'none', data: { name: 'memory', stages: { augment: { text: { synonim: 0.1 } } } } })).toThrow(/synonim/);
  });
});
