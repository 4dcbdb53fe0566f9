import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { adapterConfigSchema, type AdapterConfig } from './config';
import { ADAPTER_DEFAULT_TARGETS, injectAdapter } from './model';
import { PEFT_TYPE, loadAdapter } from './io';

export * from './config';
export * from './bottleneck';
export * from './model';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/peft';

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
      inject: (model, config, mctx) => injectAdapter(model.module, config, { arch: mctx.arch, defaultTargets: mctx.defaultTargets, blockTargets: model.blockTargets }),
      load: (model, dir) => loadAdapter(model.module, dir),
      recognizes: (dir) => peftTypeIn(dir) === PEFT_TYPE,
    });
  },
});
