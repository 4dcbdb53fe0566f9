import { definePlugin, peftTypeIn } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import { isSelected, lnTuningConfigSchema, rememberSelection, selectLayerNorms, selectionFor, type LnTuningConfig } from './select';
import { loadLnTuning, saveLnTuning } from './io';

export * from './select';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/core';

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
      // Adds nothing: the LayerNorms train in place (PEFT trains a copy; see README).
      inject(model: Module, config: LnTuningConfig) {
        rememberSelection(config, model, selectLayerNorms(model, config));
        return model;
      },
      trainable: (_path, param, config) => isSelected(config, param),
      save(model, config, dir) {
        const selection = selectionFor(config);
        if (!selection) throw new Error('ln-tuning: nothing to save; the method was not injected with this config');
        saveLnTuning(model, dir, selection);
      },
      load: (model, dir) => void loadLnTuning(model, dir),
      recognizes: (dir) => peftTypeIn(dir) === 'LN_TUNING',
    });
  },
});
