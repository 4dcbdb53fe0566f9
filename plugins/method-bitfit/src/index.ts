import { definePlugin, type MethodContext } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import { BITFIT_PAPER_TARGETS, bitfitConfigSchema, isSelected, rememberSelection, selectBiases, type BitfitConfig } from './select';

export * from './select';
export * from './io';

export const PLUGIN_NAME = '@leantune/plugin-bitfit';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'BitFit: train bias terms only' },
  apply(ctx) {
    ctx.methods.register<BitfitConfig>({
      id: 'bitfit',
      prefix: 'bitfit_',
      family: 'selective',
      description: 'BitFit: only bias terms are trained (all, or the paper\'s query + first FFN layer subset)',
      configSchema: bitfitConfigSchema,
      defaultTargets: BITFIT_PAPER_TARGETS,
      // Adds nothing: it checks the selection (failing early on a pattern that matches nothing) and remembers it.
      inject(model: Module, config: BitfitConfig, mctx: MethodContext<BitfitConfig>) {
        rememberSelection(config, model, selectBiases(model, config, mctx.arch));
        return model;
      },
      trainable: (_path, param, config) => isSelected(config, param),
    });
  },
});
