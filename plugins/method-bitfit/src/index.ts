import fs from 'node:fs';
import path from 'node:path';
import { definePlugin, type MethodContext } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import { BITFIT_PAPER_TARGETS, bitfitConfigSchema, isSelected, rememberSelection, selectBiases, selectionFor, type BitfitConfig } from './select';
import { BITFIT_CONFIG_NAME, loadBitfit, saveBitfit } from './io';

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
      save(model, config, dir) {
        const selection = selectionFor(config);
        if (!selection) throw new Error('bitfit: nothing to save; the method was not injected with this config');
        saveBitfit(model, dir, selection);
      },
      load: (model, dir) => void loadBitfit(model, dir),
      recognizes: (dir) => fs.existsSync(path.join(dir, BITFIT_CONFIG_NAME)),
    });
  },
});
