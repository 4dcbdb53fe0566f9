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
  /** CSV only: separator inside the `labels` cell. Default '|'. */
  labelSeparator?: string;
}

/** A label value as it may appear in a file: strings and numbers are kept, the rest rejected. */
export function asLabel(value: unknown): string | number | undefined {
  if (typeof value === 'string') return value.trim() === '' ? undefined : value;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  return undefined;
}
