import { definePlugin } from '@leantune/core';
import { PLUGIN_NAME, integrateStage } from './integrate-stage';

/** Enables the `integrate` dataset stage (options under `data.stages.integrate`). */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset stage integrate: merge sources with field/label mapping, cross-source dedupe, overlap report' },
  apply(ctx) {
    ctx.stages.register(integrateStage);
  },
});

export { PLUGIN_NAME, integrateStage, integrateOptionsSchema, type IntegrateOptions, type SourceOptions } from './integrate-stage';
export { checkLabelMap, mapRecord, getPath, type SourceMapping } from './mapping';
