import fs from 'node:fs';
import path from 'node:path';
import { definePlugin } from '@leantune/core';
import { BITFIT_PAPER_TARGETS, bitfitConfigSchema, selectBiases, type BitfitConfig } from './select';
import { BITFIT_CONFIG_NAME, bitfitHandle, loadBitfitHandle } from './io';

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
      inPlace: true,
      // Adds nothing: the selection is checked (failing early on a pattern that matches nothing) and held by the handle.
      inject: (model, config, mctx) => bitfitHandle(model.module, selectBiases(model.module, config, mctx.arch, model.defaultTargets)),
      load: (model, dir) => loadBitfitHandle(model.module, dir),
      recognizes: (dir) => fs.existsSync(path.join(dir, BITFIT_CONFIG_NAME)),
    });
  },
});
