import { definePlugin, type Plugin } from '@leantune/core';
import type { FeatureSource } from './features';
import { PLUGIN_NAME, createLabelStage } from './label-stage';

export interface LabelPluginDeps {
  /** Named feature sources (e.g. a model's embeddings) selectable with `features: "<name>"`. */
  featureSources?: Record<string, FeatureSource>;
}

/** The plugin with extra feature sources; the default export has the built-in ones only. */
export function createLabelPlugin(deps: LabelPluginDeps = {}): Plugin {
  return definePlugin({
    meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset stage label: manual label import, kNN auto-labelling, label-noise detection' },
    apply(ctx) {
      ctx.stages.register(createLabelStage(deps.featureSources));
    },
  });
}

export default createLabelPlugin();

export { PLUGIN_NAME, createLabelStage, labelOptionsSchema, type LabelOptions } from './label-stage';
export { tfidf, tokenize, pixels, fromDense, buildFeatures, type SparseVector, type FeatureSource } from './features';
export { knnProbabilities } from './knn';
export { outOfFoldProbabilities, findLabelIssues, type NoiseSuspect } from './noise';
export { readManualLabels, type ManualLabelsOptions, type ManualLabels } from './manual';
