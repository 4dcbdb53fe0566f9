import { definePlugin } from '@leantune/core';
import { driftStage, PLUGIN_NAME } from './stage';
import { driftCommand } from './drift-command';

/** Registers the `drift` stage (after the split): `"stages": { "drift": { "currentSplit": "validation" } }`, and `leantune data drift`. */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Drift detection (PSI, KS, label chi-square) with a retrain recommendation' },
  apply(ctx) {
    ctx.stages.register(driftStage);
    ctx.commands.register(driftCommand);
  },
});

export { PLUGIN_NAME, driftStage, driftStageSchema, type DriftStageOptions } from './stage';
export { driftReport, formatDriftReport, DEFAULT_THRESHOLDS, type DriftOptions, type DriftReport, type DriftThresholds, type FeatureDrift } from './drift';
export { runDataDrift, type DriftCommandResult } from './command';
export { driftCommand } from './drift-command';
export { saveDriftReference, loadDriftReference, REFERENCE_FORMAT } from './reference';
export { extractorFor, featureColumns, fieldFeatures, imageFeatures, textStats, TEXT_STAT_NAMES, FEATURE_SOURCES, type FeatureExtractor, type FeatureSource } from './features';
export { binCounts, chiSquareHomogeneity, gammaQ, kolmogorovSf, ksTwoSample, lnGamma, psi, psiFromCounts, PSI_FLOOR, quantileEdges, type TestResult } from './stats';
