import { parse, type CsvError } from 'csv-parse';
import type { DataRecord } from '@leantune/core';
import { makeRecord } from '../records';
import { skipRow, type ReadItem } from '../read';
import { DEFAULT_MAX_RECORD_BYTES, recordTooLong, type FieldMapping } from './fields';
import { openText, sourceName } from './open';

export interface CsvOptions extends FieldMapping {
  /** First row names the columns (default true). Without a header, fields are column indices. */
  header?: boolean;
  delimiter?: string;
}

type ColumnRef = string | number | undefined;

/** Column name or index → index, or a clear error listing the columns there are. */
function columnIndex(ref: ColumnRef, header: string[] | undefined, option: string, path: string, required: boolean): number | undefined {
  if (ref === undefined) return undefined;
  if (typeof ref === 'number' || (!header && /^\d+$/.test(ref))) {
    const i = Number(ref);
    if (header && i >= header.length) throw new Error(`CSV ${path}: option "${option}" is column ${i} but the header has ${header.length} columns`);
    return i;
  }
  if (!header) throw new Error(`CSV ${path} has no header (header: false), so option "${option}" must be a column index, not "${ref}"`);
  const i = header.indexOf(ref);
  if (i < 0 && required) {
    throw new Error(`CSV ${path} has no column "${ref}" (option "${option}"). Columns: ${header.map((h) => JSON.stringify(h)).join(', ')}`);
  }
  return i < 0 ? undefined : i;
}

/**
 * Streams a CSV file (optionally gzip) through csv-parse. Rows with the wrong number of
 * cells, an empty text cell or an empty label cell are yielded as counted skips. A quote
 * left open swallows the rest of the file in any CSV parser; that is one skip whose message
 * names the lines lost. Stray quotes inside a cell are kept as text (relax_quotes).
 * `meta.row` is the 1-based data row (header excluded); `meta.line` the line it ends on.
 * A record over `options.maxRecordBytes` (default 16 MiB) stops the read with an error naming
 * the file and line.
 */
export async function* readCsv(path: string, options: CsvOptions = {}): AsyncGenerator<ReadItem> {
  const source = sourceName(path);
  const header = options.header ?? true;
  const pending: ReadItem[] = [];
  let lastLine = 0;
  let row = 0;
  const maxBytes = options.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const parser = (await openText(path, 'CSV')).pipe(
    parse({
      info: true,
      bom: true,
      delimiter: options.delimiter ?? ',',
      relax_quotes: true,
      relax_column_count: true,
      skip_empty_lines: false,
      skip_records_with_error: true,
      // Characters, not bytes, to csv-parse: a record over it is at least that many bytes too.
      max_record_size: maxBytes,
      on_skip: (err: CsvError | undefined) => {
        // Thrown here, the error ends the parse (a skip would let the record keep growing).
        if (err?.code === 'CSV_MAX_RECORD_SIZE') {
          throw recordTooLong('CSV', path, (err as { lines?: number }).lines ?? lastLine + 1, maxBytes, ' (a quote never closed makes the rest of the file one record)');
        }
        row++;
        const quoteOpen = err?.code === 'CSV_QUOTE_NOT_CLOSED';
        const message = quoteOpen
          ? `a quote opened after line ${lastLine} is never closed, so lines ${lastLine + 1}..${(err as { lines?: number }).lines ?? '?'} could not be read`
          : (err?.message ?? 'unparsable row');
        pending.push(skipRow(source, row, quoteOpen ? 'unclosed-quote' : 'unparsable-row', message));
        return undefined;
      },
    }),
  );
  let columns: string[] | undefined;
  let width: number | undefined;
  let idx: { text?: number; label?: number; labels?: number; id?: number } = {};
  const sep = options.labelSeparator ?? '|';
  for await (const { record: cells, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    yield* pending.splice(0);
    lastLine = info.lines;
    if (width === undefined) {
      width = cells.length;
      if (header) {
        columns = cells.map((c) => c.trim());
        idx = {
          text: columnIndex(options.text ?? 'text', columns, 'text', path, options.text !== undefined),
          label: columnIndex(options.label ?? 'label', columns, 'label', path, options.label !== undefined),
          labels: columnIndex(options.labels, columns, 'labels', path, true),
          id: columnIndex(options.id, columns, 'id', path, true),
        };
        if (idx.text === undefined && idx.label === undefined) {
          throw new Error(`CSV ${path}: no "text" or "label" column. Columns: ${columns.join(', ')}; map them with the "text" and "label" options`);
        }
        continue;
      }
      idx = {
        text: columnIndex(options.text ?? 0, undefined, 'text', path, true),
        label: columnIndex(options.label, undefined, 'label', path, true),
        labels: columnIndex(options.labels, undefined, 'labels', path, true),
        id: columnIndex(options.id, undefined, 'id', path, true),
      };
    }
    row++;
    const meta = { source, row, line: info.lines };
    if (cells.length === 1 && cells[0] === '' && width > 1) {
      pending.push(skipRow(source, row, 'empty-line', `blank line ${info.lines}`));
    } else if (cells.length !== width) {
      pending.push(skipRow(source, row, 'wrong-column-count', `line ${info.lines} has ${cells.length} cells, expected ${width}`));
    } else {
      const text = idx.text === undefined ? undefined : cells[idx.text];
      const label = idx.label === undefined ? undefined : cells[idx.label].trim();
      if (text !== undefined && text.trim() === '') {
        pending.push(skipRow(source, row, 'missing-text', `line ${info.lines}: the text cell is empty`));
      } else if (label !== undefined && label === '') {
        pending.push(skipRow(source, row, 'missing-label', `line ${info.lines}: the label cell is empty`));
      } else {
        const labels: DataRecord['labels'] =
          idx.labels === undefined ? undefined : cells[idx.labels].split(sep).map((l) => l.trim()).filter((l) => l !== '');
        const id = idx.id === undefined ? undefined : cells[idx.id];
        pending.push({ record: makeRecord({ id, text, label, labels }, meta) });
      }
    }
    yield* pending.splice(0);
  }
  yield* pending.splice(0);
}
