import { definePlugin, peftTypeIn, type MethodContext } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import { adapterConfigSchema, type AdapterConfig } from './config';
import { ADAPTER_DEFAULT_TARGETS, NOT_MERGEABLE, injectAdapter, isAdapterParameterPath } from './model';
import { PEFT_TYPE, loadAdapter, saveAdapter } from './io';

export * from './config';
export * from './bottleneck';
export * from './model';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/core';

export const PLUGIN_NAME = '@leantune/plugin-adapter';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Bottleneck adapters (Houlsby, Pfeiffer, parallel)' },
  apply(ctx) {
    ctx.methods.register<AdapterConfig>({
      id: 'adapter',
      prefix: 'adapter_',
      family: 'adapter',
      description: 'Bottleneck adapters: down-projection → non-linearity → up-projection + residual, placed by target pattern',
      configSchema: adapterConfigSchema,
      defaultTargets: ADAPTER_DEFAULT_TARGETS,
      inject: (model: Module, config: AdapterConfig, mctx: MethodContext<AdapterConfig>) => injectAdapter(model, config, { arch: mctx.arch }),
      trainable: (path) => isAdapterParameterPath(path),
      merge: () => {
        throw new Error(NOT_MERGEABLE);
      },
      save: (model, _config, dir) => void saveAdapter(model, dir),
      load: (model, dir) => loadAdapter(model, dir),
      recognizes: (dir) => peftTypeIn(dir) === PEFT_TYPE,
    });
  },
});
