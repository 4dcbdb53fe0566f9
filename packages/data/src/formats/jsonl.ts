import type { DataRecord } from '@leantune/core';
import { makeRecord } from '../records';
import { skipRow, type ReadItem } from '../read';
import { asLabel, DEFAULT_MAX_RECORD_BYTES, recordTooLong, type FieldMapping } from './fields';
import { openText, readLines, sourceName } from './open';

/** A chat conversation as JSONL holds it: a non-empty array of {role, content} strings. */
function isConversation(value: unknown): value is NonNullable<DataRecord['messages']> {
  return Array.isArray(value) && value.length > 0 && value.every((m) => m && typeof m === 'object' && typeof m.role === 'string' && typeof m.content === 'string');
}

/**
 * Streams a JSON Lines file (optionally gzip) one record per line. Rows that are not JSON
 * objects, or whose mapped fields have the wrong type, are yielded as counted skips.
 * Row numbers are 1-based line numbers. A line over `fields.maxRecordBytes` (default 16 MiB)
 * stops the read with an error naming the file and line, never held whole.
 */
export async function* readJsonl(path: string, fields: FieldMapping = {}): AsyncGenerator<ReadItem> {
  const source = sourceName(path);
  const textKey = String(fields.text ?? 'text');
  const labelKey = String(fields.label ?? 'label');
  const labelsKey = fields.labels === undefined ? undefined : String(fields.labels);
  const idKey = fields.id === undefined ? undefined : String(fields.id);
  const messagesKey = fields.messages ?? 'messages';
  const maxBytes = fields.maxRecordBytes ?? DEFAULT_MAX_RECORD_BYTES;
  const lines = readLines(await openText(path, 'JSONL'), maxBytes, (line) => recordTooLong('JSONL', path, line, maxBytes));
  for await (const { line, number: row } of lines) {
    if (line.trim() === '') {
      yield skipRow(source, row, 'empty-line', 'blank line');
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      yield skipRow(source, row, 'invalid-json', `not valid JSON (${(err as Error).message})`);
      continue;
    }
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      yield skipRow(source, row, 'not-an-object', 'each line must be a JSON object');
      continue;
    }
    const obj = value as Record<string, unknown>;
    const text = obj[textKey];
    if (text !== undefined && typeof text !== 'string') {
      yield skipRow(source, row, 'bad-text', `field "${textKey}" must be a string (got ${typeof text})`);
      continue;
    }
    const rawLabel = obj[labelKey];
    const label = asLabel(rawLabel);
    if (rawLabel !== undefined && rawLabel !== null && label === undefined) {
      yield skipRow(source, row, 'bad-label', `field "${labelKey}" must be a non-empty string or a number`);
      continue;
    }
    let labels: DataRecord['labels'];
    if (labelsKey !== undefined && obj[labelsKey] !== undefined) {
      const raw = obj[labelsKey];
      labels = Array.isArray(raw) ? raw.map(asLabel).filter((l): l is string | number => l !== undefined) : undefined;
      if (!labels || labels.length !== (raw as unknown[]).length) {
        yield skipRow(source, row, 'bad-labels', `field "${labelsKey}" must be an array of strings or numbers`);
        continue;
      }
    }
    const rawMessages = obj[messagesKey];
    if (rawMessages !== undefined && !isConversation(rawMessages)) {
      yield skipRow(source, row, 'bad-messages', `field "${messagesKey}" must be a non-empty array of {"role": string, "content": string}`);
      continue;
    }
    const id = idKey !== undefined && obj[idKey] !== undefined ? String(obj[idKey]) : undefined;
    yield { record: makeRecord({ id, text: text as string | undefined, label, labels, messages: rawMessages }, { source, row }) };
  }
}
