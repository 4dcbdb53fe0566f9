import { definePlugin, type JSONSchema } from '@leantune/core';
import type { Module, Parameter } from '@leantune/tensor';
import { findHead } from './head';

export { findHead, HEAD_NAMES } from './head';

export const PLUGIN_NAME = '@leantune/plugin-baselines';

export interface LinearProbeConfig {
  /** Module path of the head; default: the shallowest module named classifier, lm_head or score. */
  head?: string | null;
}

const emptySchema: JSONSchema = { type: 'object', additionalProperties: false, properties: {} };

export const linearProbeSchema: JSONSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { head: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }], description: 'module path of the classification head (default: classifier / lm_head / score)' } },
};

/**
 * The head's parameters, recorded at inject per config object. Parameter identity (not the
 * path) is kept so a method injected later that renames paths (LoRA's base_layer) still
 * leaves the head trainable.
 */
const heads = new WeakMap<object, WeakSet<Parameter>>();

/** Parameters of the head that linear-probe selected for `config` (after inject). */
export function probeParameters(model: Module, config: LinearProbeConfig): Parameter[] {
  const set = heads.get(config);
  return set ? [...model.namedParameters()].map(([, p]) => p).filter((p) => set.has(p)) : [];
}

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Baselines: full fine-tune, linear probe, zero-shot' },
  apply(ctx) {
    ctx.methods.register({
      id: 'full',
      prefix: 'full_',
      family: 'baseline',
      description: 'Full fine-tuning: every parameter trainable',
      configSchema: emptySchema,
      inject: (model) => model,
      trainable: () => true,
    });
    ctx.methods.register<LinearProbeConfig>({
      id: 'linear-probe',
      prefix: 'probe_',
      family: 'baseline',
      description: 'Linear probe: only the classification head is trained',
      configSchema: linearProbeSchema,
      inject(model, config) {
        const head = findHead(model, config.head);
        const params = [...model.getSubmodule(head).namedParameters()].map(([, p]) => p);
        if (params.length === 0) throw new Error(`linear-probe head "${head}" has no parameters to train`);
        heads.set(config, new WeakSet(params));
        return model;
      },
      trainable: (_path, param, config) => heads.get(config)?.has(param) ?? false,
    });
    ctx.methods.register({
      id: 'zero-shot',
      prefix: 'zeroshot_',
      family: 'baseline',
      description: 'Zero-shot: nothing is trained; the run only evaluates',
      configSchema: emptySchema,
      inject: (model) => model,
      trainable: () => false,
    });
  },
});
