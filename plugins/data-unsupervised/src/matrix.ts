import type { DataRecord } from '@leantune/core';
import { isImageArray } from '@leantune/data';

/** A dense row-major matrix: `rows` samples of `cols` features. */
export interface Matrix {
  data: Float32Array;
  rows: number;
  cols: number;
}

export function matrix(data: Float32Array, rows: number, cols: number): Matrix {
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1 || data.length !== rows * cols) {
    throw new Error(`Matrix ${rows}×${cols} needs ${rows * cols} values, got ${data.length}`);
  }
  return { data, rows, cols };
}

/** Where a record's input vector comes from. */
export type VectorSource = 'image' | 'features';

/** The record's vector: image pixels (uint8 scaled to 0..1) or its `features` array. */
export function recordVector(r: DataRecord, source: VectorSource): ArrayLike<number> {
  if (source === 'image') {
    if (!isImageArray(r.image)) throw new Error(`Record ${r.id} has no image; set source: "features" for vector records`);
    const { data } = r.image;
    if (!(data instanceof Uint8Array)) return data;
    return Float32Array.from(data, (v) => v / 255);
  }
  const f = (r as DataRecord & { features?: unknown }).features;
  if (!(Array.isArray(f) || ArrayBuffer.isView(f))) throw new Error(`Record ${r.id} has no "features" array; set source: "image" or add features first`);
  return f as ArrayLike<number>;
}

/** Stacks records' vectors into a matrix; every record must have the same width. */
export function recordsToMatrix(records: readonly DataRecord[], source: VectorSource): Matrix {
  if (records.length === 0) throw new Error('recordsToMatrix: no records');
  const first = recordVector(records[0], source);
  const cols = first.length;
  const data = new Float32Array(records.length * cols);
  records.forEach((r, i) => {
    const v = i === 0 ? first : recordVector(r, source);
    if (v.length !== cols) throw new Error(`Record ${r.id} has ${v.length} values, the first record has ${cols}; all records need the same width`);
    data.set(v as ArrayLike<number>, i * cols);
  });
  return { data, rows: records.length, cols };
}

/** Row i as a fresh Float32Array. */
export function row(m: Matrix, i: number): Float32Array {
  return m.data.slice(i * m.cols, (i + 1) * m.cols);
}
