import { definePlugin } from '@leantune/core';
import { featuresHeadLoader } from './head';
import { featuresStage, PLUGIN_NAME } from './stage';

/**
 * Registers the `features` stage (PCA / autoencoder features on every record) and the
 * `features-head` model loader that trains a head on them.
 */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'PCA and autoencoder features from unlabelled data, and a head over them' },
  apply(ctx) {
    ctx.stages.register(featuresStage);
    ctx.models.register(featuresHeadLoader);
  },
});

export { PLUGIN_NAME, featuresStage, featuresStageSchema, type FeaturesStageOptions } from './stage';
export { FeaturesHead, featuresHeadLoader, featuresHeadModel, type FeaturesHeadOptions } from './head';
export { fitPca, pcaTransform, covariance, type PcaModel, type PcaOptions } from './pca';
export { jacobiEigen, topEigen, type Eigen } from './eigen';
export { DenseAutoencoder, trainAutoencoder, encodeMatrix, type AutoencoderOptions, type TrainedAutoencoder } from './autoencoder';
export { fitExtractor, extract, withFeatures, type ExtractorSpec, type FeatureExtractorModel } from './extractor';
export { matrix, recordsToMatrix, recordVector, row, type Matrix, type VectorSource } from './matrix';
