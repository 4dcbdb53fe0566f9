/** Shared field-mapping options for row formats (JSONL objects, CSV rows). */
export interface FieldMapping {
  /** Field (JSONL key or CSV column name/index) holding the text. Default 'text'. */
  text?: string | number;
  /** Field holding one label. Default 'label'. */
  label?: string | number;
  /** Field holding several labels (an array in JSONL; a `labelSeparator`-joined string in CSV). */
  labels?: string | number;
  /** Field holding the record id; default `<file>:<row>`. */
  id?: string | number;
  /** JSONL only: field holding a chat conversation, an array of {role, content} (default 'messages'). */
  messages?: string;
  /** CSV only: separator inside the `labels` cell. Default '|'. */
  labelSeparator?: string;
  /**
   * Longest record (a JSONL line, a CSV record) read, in bytes; a longer one stops the read
   * with an error naming the file and line, before it is held in memory. Default
   * DEFAULT_MAX_RECORD_BYTES (16 MiB); the data section's `maxRecordBytes` sets it.
   */
  maxRecordBytes?: number;
}

/** The per-record cap when none is set: far above any real record, far below what would exhaust memory. */
export const DEFAULT_MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** The error for a record over the cap: the file, the line, the cap and the option that raises it. */
export function recordTooLong(what: string, path: string, line: number, maxBytes: number, hint = ''): Error {
  return new Error(
    `${what} ${path} line ${line} is longer than ${maxBytes} bytes, the per-record cap${hint}; ` +
      `if the file really holds records this large, raise "maxRecordBytes" in the config's data section`,
  );
}

/** A label value as it may appear in a file: strings and numbers are kept, the rest rejected. */
export function asLabel(value: unknown): string | number | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}
