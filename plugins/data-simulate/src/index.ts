import { definePlugin } from '@leantune/core';
import { PLUGIN_NAME, simulateStage } from './stage';

/** Registers the `simulate` stage: `"stages": { "simulate": { "kind": "digits", "ratio": 2 } }`. */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Seeded synthetic digits, shapes and grammar text mixed into training data' },
  apply(ctx) {
    ctx.stages.register(simulateStage);
  },
});

export { PLUGIN_NAME, simulateStage, simulateStageSchema, type SimulateStageOptions } from './stage';
export { mixSynthetic, SIMULATE_KINDS, type MixOptions, type MixResult, type SimulateKind } from './mix';
export { DIGIT_LABELS, DIGIT_TEMPLATES, SHAPE_LABELS, generateImages, renderDigit, renderShape, type ImageJitter, type ImageKind, type Rendered } from './images';
export { SPAM_HAM_GRAMMAR, checkGrammar, expand, generateText, type Grammar } from './text';
export { arc, insidePolygon, jitterAffine, renderStrokes, transform, type Affine, type Point, type Stroke } from './raster';
