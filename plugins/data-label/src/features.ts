import type { DataRecord } from '@leantune/core';
import { isImageArray } from '@leantune/data';

/** An L2-normalised sparse vector: sorted feature indices and their values. */
export interface SparseVector {
  idx: Int32Array;
  val: Float32Array;
}

/** Turns records into feature vectors; a custom source (e.g. a model's embeddings) implements this. */
export type FeatureSource = (records: readonly DataRecord[]) => SparseVector[] | number[][];

function normalised(entries: Array<[number, number]>): SparseVector {
  entries.sort((a, b) => a[0] - b[0]);
  const norm = Math.sqrt(entries.reduce((s, [, v]) => s + v * v, 0)) || 1;
  return { idx: Int32Array.from(entries, ([i]) => i), val: Float32Array.from(entries, ([, v]) => v / norm) };
}

/** Dense rows (e.g. embeddings) as normalised sparse vectors, zeros left out. */
export function fromDense(rows: readonly (ArrayLike<number>)[]): SparseVector[] {
  return rows.map((row) => {
    const entries: Array<[number, number]> = [];
    for (let i = 0; i < row.length; i++) if (row[i] !== 0) entries.push([i, row[i]]);
    return normalised(entries);
  });
}

export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9][a-z0-9']+/g) ?? [];
}

/**
 * TF-IDF over word tokens, fitted on the records given: sublinear tf (1 + ln count), smoothed
 * idf ln((1 + N) / (1 + df)) + 1 as scikit-learn computes it, the `maxFeatures` most frequent
 * terms (by document frequency) kept, rows L2-normalised.
 */
export function tfidf(texts: readonly string[], options: { maxFeatures?: number; minDf?: number } = {}): SparseVector[] {
  const docs = texts.map(tokenize);
  const df = new Map<string, number>();
  for (const tokens of docs) for (const t of new Set(tokens)) df.set(t, (df.get(t) ?? 0) + 1);
  const terms = [...df.entries()]
    .filter(([, n]) => n >= (options.minDf ?? 1))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .slice(0, options.maxFeatures ?? 20000);
  const index = new Map(terms.map(([t], i) => [t, i]));
  const idf = terms.map(([, n]) => Math.log((1 + docs.length) / (1 + n)) + 1);
  return docs.map((tokens) => {
    const counts = new Map<number, number>();
    for (const t of tokens) {
      const i = index.get(t);
      if (i !== undefined) counts.set(i, (counts.get(i) ?? 0) + 1);
    }
    return normalised([...counts].map(([i, c]) => [i, (1 + Math.log(c)) * idf[i]]));
  });
}

/** Raw pixels (any scale: vectors are normalised) as features. */
export function pixels(records: readonly DataRecord[]): SparseVector[] {
  return records.map((r) => {
    if (!isImageArray(r.image)) throw new Error(`Record ${r.id} has no image, so "pixels" features cannot describe it; use features: "tfidf" for text`);
    return fromDense([r.image.data])[0];
  });
}

/** 'auto' picks tfidf when every record has text, pixels when every record has an image. */
export function buildFeatures(records: readonly DataRecord[], source: string, custom: Record<string, FeatureSource>, tfidfOptions: { maxFeatures?: number }): SparseVector[] {
  let name = source;
  if (name === 'auto') {
    if (records.every((r) => typeof r.text === 'string')) name = 'tfidf';
    else if (records.every((r) => isImageArray(r.image))) name = 'pixels';
    else throw new Error('Stage "label": features "auto" needs every record to have text, or every record an image; name a feature source in data.stages.label.features');
  }
  if (name === 'tfidf') return tfidf(records.map((r) => (typeof r.text === 'string' ? r.text : '')), tfidfOptions);
  if (name === 'pixels') return pixels(records);
  const fn = custom[name];
  if (!fn) {
    throw new Error(`Stage "label": unknown feature source "${name}". Known: auto, tfidf, pixels${Object.keys(custom).map((k) => `, ${k}`).join('')}; register one with createLabelPlugin({ featureSources })`);
  }
  const rows = fn(records);
  if (rows.length !== records.length) throw new Error(`Stage "label": feature source "${name}" returned ${rows.length} vectors for ${records.length} records`);
  return rows.length > 0 && Array.isArray(rows[0]) ? fromDense(rows as number[][]) : (rows as SparseVector[]);
}
