import { definePlugin, type ConfigOf, type JSONSchema } from '@leantune/core';
import { selectionHandle } from '@leantune/peft';
import { findHead } from './head';

export { findHead, HEAD_NAMES } from './head';

export const PLUGIN_NAME = '@leantune/plugin-baselines';

const emptySchema = { type: 'object', additionalProperties: false, properties: {} } as const satisfies JSONSchema;

export const linearProbeSchema = {
  type: 'object',
  additionalProperties: false,
  properties: { head: { anyOf: [{ type: 'string', minLength: 1 }, { type: 'null' }], description: 'module path of the classification head (default: classifier / lm_head / score)' } },
} as const satisfies JSONSchema;

/** Module path of the head; default: the shallowest module named classifier, lm_head or score. Derived from the schema. */
export type LinearProbeConfig = ConfigOf<typeof linearProbeSchema>;

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Baselines: full fine-tune, linear probe, zero-shot' },
  apply(ctx) {
    ctx.methods.register({
      id: 'full',
      family: 'baseline',
      inPlace: true,
      description: 'Full fine-tuning: every parameter trainable',
      configSchema: emptySchema,
      inject: (_model, config) => ({ config, trains: () => true }),
    });
    ctx.methods.register<LinearProbeConfig>({
      id: 'linear-probe',
      family: 'baseline',
      inPlace: true,
      description: 'Linear probe: only the classification head is trained',
      configSchema: linearProbeSchema,
      // The head's parameters by identity, so a method injected later that renames paths (LoRA's base_layer) leaves them trainable.
      inject(model, config) {
        const head = findHead(model.module, config.head);
        const params = [...model.module.getSubmodule(head).namedParameters()].map(([, p]) => p);
        if (params.length === 0) throw new Error(`linear-probe head "${head}" has no parameters to train`);
        return selectionHandle({ ...config, head }, params);
      },
    });
    ctx.methods.register({
      id: 'zero-shot',
      family: 'baseline',
      trainsNothing: true,
      description: 'Zero-shot: nothing is trained; the run only evaluates',
      configSchema: emptySchema,
      inject: (_model, config) => ({ config, trains: () => false }),
    });
  },
});
