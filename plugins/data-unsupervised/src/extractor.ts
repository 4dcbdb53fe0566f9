import type { DataRecord } from '@leantune/core';
import { trainAutoencoder, encodeMatrix, type AutoencoderOptions, type DenseAutoencoder } from './autoencoder';
import { recordsToMatrix, row, type Matrix, type VectorSource } from './matrix';
import { fitPca, pcaTransform, type PcaModel, type PcaOptions } from './pca';

/** Per-feature mean and standard deviation of the fitted outputs, for z-scoring. */
export interface Standardizer {
  mean: Float32Array;
  std: Float32Array;
}

/** A fitted feature extractor: PCA or an autoencoder's bottleneck, optionally z-scored. */
export type FeatureExtractorModel = ({ kind: 'pca'; model: PcaModel } | { kind: 'autoencoder'; model: DenseAutoencoder; history: number[] }) & { standardize?: Standardizer };

/** `standardize` z-scores each output with the fit set's statistics (PCA scores differ in scale by orders of magnitude). */
export type ExtractorSpec = ({ method: 'pca'; solver?: PcaOptions['method']; seed?: number } | ({ method: 'autoencoder' } & Omit<AutoencoderOptions, 'latent'>)) & { standardize?: boolean };

function standardizer(m: Matrix): Standardizer {
  const mean = new Float32Array(m.cols);
  const std = new Float32Array(m.cols);
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) mean[j] += m.data[i * m.cols + j] / m.rows;
  for (let i = 0; i < m.rows; i++) for (let j = 0; j < m.cols; j++) std[j] += (m.data[i * m.cols + j] - mean[j]) ** 2 / m.rows;
  for (let j = 0; j < m.cols; j++) std[j] = Math.sqrt(std[j]) || 1; // a constant output stays 0, not NaN
  return { mean, std };
}

/** Fits an extractor with k outputs on unlabelled vectors (labels are never read). */
export async function fitExtractor(x: Matrix, k: number, spec: ExtractorSpec): Promise<FeatureExtractorModel> {
  let fitted: FeatureExtractorModel;
  if (spec.method === 'pca') fitted = { kind: 'pca', model: fitPca(x, k, { method: spec.solver, seed: spec.seed }) };
  else if (spec.method === 'autoencoder') {
    const { model, history } = await trainAutoencoder(x, { ...spec, latent: k });
    fitted = { kind: 'autoencoder', model, history };
  } else throw new Error(`Unknown feature method ${JSON.stringify((spec as { method: unknown }).method)}; use "pca" or "autoencoder"`);
  if (spec.standardize) fitted.standardize = standardizer(extract(fitted, x));
  return fitted;
}

export function extract(e: FeatureExtractorModel, x: Matrix): Matrix {
  const out = e.kind === 'pca' ? pcaTransform(e.model, x) : encodeMatrix(e.model, x);
  const z = e.standardize;
  if (z) for (let i = 0; i < out.rows; i++) for (let j = 0; j < out.cols; j++) out.data[i * out.cols + j] = (out.data[i * out.cols + j] - z.mean[j]) / z.std[j];
  return out;
}

/**
 * New records with `features` set (the inputs are not modified); the map sends each input
 * record to its copy, so splits holding the same objects can be rebuilt.
 */
export function withFeatures(records: readonly DataRecord[], e: FeatureExtractorModel, source: VectorSource): Map<DataRecord, DataRecord> {
  const out = new Map<DataRecord, DataRecord>();
  if (records.length === 0) return out;
  const feats = extract(e, recordsToMatrix(records, source));
  records.forEach((r, i) => out.set(r, { ...r, features: row(feats, i) } as DataRecord));
  return out;
}
