import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { IA3_DEFAULT_TARGETS, ia3ConfigSchema, type Ia3Config } from './config';
import { injectIa3 } from './model';
import { loadIa3 } from './io';

export * from './config';
export * from './ia3-layer';
export * from './model';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/peft';

export const PLUGIN_NAME = '@leantune/plugin-ia3';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'IA3 learned rescaling, Hugging Face PEFT compatible' },
  apply(ctx) {
    ctx.methods.register<Ia3Config>({
      id: 'ia3',
      prefix: 'ia3_',
      family: 'reparameterization',
      description: 'IA3: learned vectors rescale keys, values and feed-forward activations (PEFT format)',
      configSchema: ia3ConfigSchema,
      defaultTargets: IA3_DEFAULT_TARGETS,
      inject: (model, config, mctx) => injectIa3(model.module, config, { arch: mctx.arch, defaultTargets: mctx.defaultTargets, warn: (m) => mctx.log.warn(m) }),
      load: (model, dir) => loadIa3(model.module, dir, { arch: model.arch, defaultTargets: IA3_DEFAULT_TARGETS[model.arch] ?? model.defaultTargets }),
      recognizes: (dir) => peftTypeIn(dir) === 'IA3',
    });
  },
});
