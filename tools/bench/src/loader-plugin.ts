import { definePlugin, type LoadedModel, type ModelSpec } from '@leantune/core';

/** A plugin with one model loader answering to `{ name: model, ... }`. */
export function loaderPlugin(model: string, load: (spec: ModelSpec) => LoadedModel) {
  return definePlugin({
    meta: { name: `@leantune/tool-${model}`, version: '0.1.0', core: '^0.1.0' },
    apply(ctx) {
      ctx.models.register({ name: model, models: [model], test: (spec) => spec.name === model, load: async (spec) => load(spec) });
    },
  });
}
