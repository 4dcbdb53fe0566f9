import { definePlugin } from '@leantune/core';
import { PLUGIN_NAME, augmentStage } from './augment-stage';

/** Enables the `augment` dataset stage (options under `data.stages.augment`). */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset stage augment: seeded on-the-fly image and text augmentation of training batches' },
  apply(ctx) {
    ctx.stages.register(augmentStage);
  },
});

export { PLUGIN_NAME, augmentStage, augmentOptionsSchema, createAugmenter, resolvePolicy, type AugmentOptions } from './augment-stage';
export { transformImage, drawTransform, gaussian, type ImageTransform, type ImagePolicy } from './image';
export { augmentText, synonymReplace, randomDeletion, randomSwap, templateParaphrase, type TextPolicy } from './text';
export { synonymTable, type SynonymTable } from './synonyms';
