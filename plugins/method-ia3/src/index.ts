import { definePlugin, peftTypeIn, type MethodContext } from '@leantune/core';
import type { Module } from '@leantune/tensor';
import { IA3_DEFAULT_TARGETS, ia3ConfigSchema, type Ia3Config } from './config';
import { injectIa3, mergeAndUnload } from './model';
import { loadIa3, saveIa3 } from './io';

export * from './config';
export * from './ia3-layer';
export * from './model';
export * from './io';
export { findModules, matchesSpec, modulePaths, type TargetSpec } from '@leantune/core';

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
      // Trainable by the default rule: the `ia3_l` path segment starts with the prefix.
      inject: (model: Module, config: Ia3Config, mctx: MethodContext<Ia3Config>) => injectIa3(model, config, { arch: mctx.arch }),
      merge: (model) => mergeAndUnload(model),
      save: (model, _config, dir) => void saveIa3(model, dir),
      load: (model, dir) => loadIa3(model, dir),
      recognizes: (dir) => peftTypeIn(dir) === 'IA3',
    });
  },
});
