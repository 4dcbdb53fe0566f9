import type { Dataset, DatasetLoader, DatasetSpec, RunContext } from '@leantune/core';
import { collect, readCsv, readIdx, readImageFolder, readJsonl, toDataset, type FieldMapping, type ReadItem } from '@leantune/data';
import { PLUGIN_NAME, intOption, resolveDataPath, withConfigDir, type LoaderDeps } from '../common';

export const FILE_FORMATS = ['jsonl', 'csv', 'idx', 'image-folder'] as const;
type FileFormat = (typeof FILE_FORMATS)[number];

function fieldMapping(spec: DatasetSpec): FieldMapping {
  const out: FieldMapping = {};
  for (const key of ['text', 'label', 'labels', 'id'] as const) {
    const v = spec[key];
    if (v === undefined) continue;
    if (typeof v !== 'string' && typeof v !== 'number') {
      throw new Error(`Dataset "${spec.name}": option "${key}" names a field or column, so it must be a string or a column index (got ${JSON.stringify(v)})`);
    }
    out[key] = v;
  }
  if (typeof spec.labelSeparator === 'string') out.labelSeparator = spec.labelSeparator;
  const maxRecordBytes = intOption(spec, 'maxRecordBytes');
  if (maxRecordBytes !== undefined) out.maxRecordBytes = maxRecordBytes;
  if (typeof spec.messages === 'string') out.messages = spec.messages;
  return out;
}

function reader(format: FileFormat, spec: DatasetSpec, deps: LoaderDeps): AsyncIterable<ReadItem> {
  switch (format) {
    case 'jsonl':
      return readJsonl(resolveDataPath(spec.path, spec, deps), fieldMapping(spec));
    case 'csv':
      return readCsv(resolveDataPath(spec.path, spec, deps), {
        ...fieldMapping(spec),
        header: spec.header === undefined ? undefined : spec.header === true,
        delimiter: typeof spec.delimiter === 'string' ? spec.delimiter : undefined,
      });
    case 'idx':
      return readIdx(resolveDataPath(spec.images, spec, deps, 'images'), resolveDataPath(spec.labels, spec, deps, 'labels'), {
        labelNames: Array.isArray(spec.labelNames) ? spec.labelNames.map(String) : undefined,
        maxFileBytes: intOption(spec, 'maxFileBytes'),
      });
    case 'image-folder':
      return readImageFolder(resolveDataPath(spec.path, spec, deps), { maxRecordBytes: intOption(spec, 'maxRecordBytes') });
  }
}

/**
 * Datasets from files: { name: 'jsonl' | 'csv', path, text?, label?, labels?, id?, messages? (JSONL chat) },
 * { name: 'idx', images, labels, labelNames? }, { name: 'image-folder', path }. Every
 * format takes `limit` (first N records, for quick runs) and `as` (the dataset's name); JSONL
 * and CSV take `maxRecordBytes` (longest line or record, default 16 MiB), image folders too
 * (largest image file); IDX takes `maxFileBytes` (largest file, decompressed, default 1 GiB).
 */
export function fileLoader(deps: LoaderDeps): DatasetLoader {
  return {
    name: 'files',
    description: 'Datasets from JSONL, CSV, IDX files or an image folder (one sub-folder per class)',
    datasets: [...FILE_FORMATS],
    test: (spec) => (FILE_FORMATS as readonly string[]).includes(spec.name),
    async load(spec: DatasetSpec, ctx: RunContext): Promise<Dataset> {
      const format = spec.name as FileFormat;
      const collected = await collect(reader(format, spec, withConfigDir(deps, ctx)), { limit: intOption(spec, 'limit') });
      const name = typeof spec.as === 'string' ? spec.as : format;
      // The file as the config names it, so the console and errors say which file lost rows.
      const source = String(format === 'idx' ? spec.images : spec.path);
      return toDataset(name, collected, { plugin: PLUGIN_NAME, details: { format }, source, rowName: format === 'jsonl' ? 'line' : 'row' });
    },
  };
}
