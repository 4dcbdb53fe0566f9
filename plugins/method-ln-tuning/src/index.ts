import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { lnTuningConfigSchema, selectLayerNorms, type LnTuningConfig } from './select';
import { lnTuningHandle, loadLnTuning } from './io';

export * from './select';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/peft';

export const PLUGIN_NAME = '@leantune/plugin-ln-tuning';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'LN tuning: train LayerNorm parameters only (PEFT LN_TUNING files)' },
  apply(ctx) {
    ctx.methods.register<LnTuningConfig>({
      id: 'ln-tuning',
      prefix: 'ln_tuning_',
      family: 'selective',
      description: 'LN tuning: only LayerNorm gains and biases are trained',
      configSchema: lnTuningConfigSchema,
      inPlace: true,
      // Adds nothing: the LayerNorms train in place (PEFT trains a copy; see README).
      inject: (model, config) => lnTuningHandle(model.module, selectLayerNorms(model.module, config)),
      load: (model, dir) => lnTuningHandle(model.module, loadLnTuning(model.module, dir)),
      recognizes: (dir) => peftTypeIn(dir) === 'LN_TUNING',
    });
  },
});
