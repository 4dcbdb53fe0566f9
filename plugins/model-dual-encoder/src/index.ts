import { definePlugin } from '@leantune/core';
import { loadDualEncoder } from './loader';
import { MODEL_NAME, dualEncoderSpecSchema } from './spec';

export * from './loader';
export * from './model';
export * from './spec';

export const PLUGIN_NAME = '@leantune/plugin-dual-encoder';

/** Registers the `dual-encoder` model: USE-lite text and MobileNetV2 image towers joined as CLIP joins its towers. */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'CLIP-style dual encoder from real pretrained towers (USE-lite text, MobileNetV2 image)' },
  apply(ctx) {
    ctx.models.register({
      name: MODEL_NAME,
      models: [MODEL_NAME],
      description: `CLIP-style dual encoder: USE-lite text tower, MobileNetV2 image tower, learned projections; spec options: ${Object.keys(dualEncoderSpecSchema.properties as object).filter((k) => k !== 'name').join(', ')}`,
      test: (spec) => spec.name === MODEL_NAME,
      optionsSchema: dualEncoderSpecSchema,
      load: (spec, runCtx) => loadDualEncoder(spec, runCtx),
    });
  },
});
