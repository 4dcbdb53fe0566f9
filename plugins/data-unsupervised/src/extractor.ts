import type { DataRecord } from '@leantune/core';
import { trainAutoencoder, encodeMatrix, type AutoencoderOptions, type DenseAutoencoder } from './autoencoder';
import { recordsToMatrix, row, type Matrix, type VectorSource } from './matrix';
import { fitPca, pcaTransform, type PcaModel, type PcaOptions } from './pca';

/** A fitted feature extractor: PCA or an autoencoder's bottleneck. */
export type FeatureExtractorModel = { kind: 'pca'; model: PcaModel } | { kind: 'autoencoder'; model: DenseAutoencoder; history: number[] };

export type ExtractorSpec = { method: 'pca'; solver?: PcaOptions['method']; seed?: number } | ({ method: 'autoencoder' } & Omit<AutoencoderOptions, 'latent'>);

/** Fits an extractor with k outputs on unlabelled vectors (labels are never read). */
export async function fitExtractor(x: Matrix, k: number, spec: ExtractorSpec): Promise<FeatureExtractorModel> {
  if (spec.method === 'pca') return { kind: 'pca', model: fitPca(x, k, { method: spec.solver, seed: spec.seed }) };
  if (spec.method === 'autoencoder') {
    const { model, history } = await trainAutoencoder(x, { ...spec, latent: k });
    return { kind: 'autoencoder', model, history };
  }
  throw new Error(`Unknown feature method ${JSON.stringify((spec as { method: unknown }).method)}; use "pca" or "autoencoder"`);
}

export function extract(e: FeatureExtractorModel, x: Matrix): Matrix {
  return e.kind === 'pca' ? pcaTransform(e.model, x) : encodeMatrix(e.model, x);
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
