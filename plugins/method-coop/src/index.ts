import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { COOP_PEFT_TYPE, coopConfigSchema, type CoopConfig } from './config';
import { PLUGIN_NAME, injectCoop, loadCoop } from './coop';

export * from './config';
export * from './coop';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'CoOp: learned context for CLIP\'s text encoder (unified or class-specific)' },
  apply(ctx) {
    ctx.methods.register<CoopConfig>({
      id: 'coop',
      prefix: 'coop_',
      family: 'prompt',
      description: 'CoOp: learned context vectors replace the hand-written prompt of CLIP\'s class names',
      configSchema: coopConfigSchema,
      // ctx_init also needs the tokenizer: checked at inject.
      requires: ['textTokenEmbeddings'],
      inject: (model, config, mctx) => injectCoop(model, config, mctx.seed),
      load: (model, dir) => loadCoop(model, dir),
      recognizes: (dir) => peftTypeIn(dir) === COOP_PEFT_TYPE,
    });
  },
});
