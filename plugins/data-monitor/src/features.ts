import type { DataRecord } from '@leantune/core';
import { isImageArray } from '@leantune/data';

/** Turns a record into a numeric vector (pixels, an embedding, hand-made statistics). */
export type FeatureExtractor = (record: DataRecord) => ArrayLike<number>;

export const FEATURE_SOURCES = ['image', 'features', 'text-stats'] as const;
export type FeatureSource = (typeof FEATURE_SOURCES)[number];

/** Pixels, uint8 scaled to 0..1 so IDX (0..255) and `mnist`-package (0..1) images compare. */
export const imageFeatures: FeatureExtractor = (r) => {
  if (!isImageArray(r.image)) throw new Error(`Record ${r.id} has no image; use features: "features" or "text-stats", or pass an extractor`);
  const { data } = r.image;
  if (!(data instanceof Uint8Array)) return data;
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = data[i] / 255;
  return out;
};

/** A precomputed vector on the record (e.g. embeddings, or PCA features added by a stage). */
export const fieldFeatures: FeatureExtractor = (r) => {
  const v = (r as DataRecord & { features?: unknown }).features;
  if (!(Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView)))) {
    throw new Error(`Record ${r.id} has no "features" array; add one (an embedding stage) or use features: "image" / "text-stats"`);
  }
  return v as ArrayLike<number>;
};

export const TEXT_STAT_NAMES = ['chars', 'words', 'mean_word_length', 'digit_share', 'upper_share', 'punct_share', 'lines'] as const;

/** Cheap text statistics, for text datasets without an embedding model at hand. */
export const textStats: FeatureExtractor = (r) => {
  if (typeof r.text !== 'string') throw new Error(`Record ${r.id} has no text; use features: "image" or "features"`);
  const t = r.text;
  const words = t.split(/\s+/).filter(Boolean);
  const n = Math.max(1, t.length);
  const count = (re: RegExp) => (t.match(re) ?? []).length;
  return [t.length, words.length, words.length ? words.reduce((a, w) => a + w.length, 0) / words.length : 0, count(/\d/g) / n, count(/[A-Z]/g) / n, count(/[!?.,;:$%]/g) / n, t.split('\n').length];
};

export function extractorFor(source: FeatureSource | FeatureExtractor): FeatureExtractor {
  if (typeof source === 'function') return source;
  if (source === 'image') return imageFeatures;
  if (source === 'features') return fieldFeatures;
  if (source === 'text-stats') return textStats;
  throw new Error(`Unknown feature source ${JSON.stringify(source)}; use one of ${FEATURE_SOURCES.map((s) => `"${s}"`).join(', ')} or a function`);
}

/** Column-major matrix: columns[j] holds feature j over all records. Checks every width. */
export function featureColumns(records: readonly DataRecord[], extract: FeatureExtractor, what: string): Float64Array[] {
  if (records.length === 0) throw new Error(`${what}: no records to compare`);
  const first = extract(records[0]);
  const d = first.length;
  const cols = Array.from({ length: d }, () => new Float64Array(records.length));
  records.forEach((r, i) => {
    const v = i === 0 ? first : extract(r);
    if (v.length !== d) throw new Error(`${what}: record ${r.id} has ${v.length} features, the first record has ${d}; all records need the same width`);
    for (let j = 0; j < d; j++) cols[j][i] = v[j];
  });
  return cols;
}
