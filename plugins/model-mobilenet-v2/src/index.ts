import { definePlugin } from '@leantune/core';
import { loadMobileNetV2 } from './loader';
import { MODEL_NAME, MobileNetV2SpecSchema } from './spec';

export * from './filter-cache';
export * from './loader';
export * from './mobilenet';
export * from './modules';
export * from './nsfwjs-assets';
export * from './preprocess';
export * from './pretrained';
export * from './spec';
export * from './topology';
export * from './weights';

export const PLUGIN_NAME = '@leantune/plugin-mobilenet-v2';

/** Registers the `mobilenet-v2` model loader (nsfwjs's pretrained MobileNetV2). */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'MobileNetV2 image classifier with nsfwjs weights, as trainable modules' },
  apply(ctx) {
    ctx.models.register({
      name: MODEL_NAME,
      models: [MODEL_NAME],
      description: `MobileNetV2 (224×224×3, ~2.6M parameters, nsfwjs weights); spec options: ${Object.keys(MobileNetV2SpecSchema.properties as object).filter((k) => k !== 'name').join(', ')}`,
      test: (spec) => spec.name === MODEL_NAME,
      // Checked in the config's second validation pass, before anything loads.
      optionsSchema: MobileNetV2SpecSchema,
      load: (spec, runCtx) => loadMobileNetV2(spec, runCtx),
    });
  },
});
