import { definePlugin } from '@leantune/core';
import { PLUGIN_NAME, validateStage } from './validate-stage';

/** Enables the `validate` dataset stage (options under `data.stages.validate`), run after `split`. */
export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Dataset stage validate: holdout / k-fold splits, leakage check, validation report' },
  apply(ctx) {
    ctx.stages.register(validateStage);
  },
});

export { PLUGIN_NAME, validateStage, validateOptionsSchema, type ValidateOptions } from './validate-stage';
export { findLeaks, countLeaks, type Leak } from './leakage';
