import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { VPT_PEFT_TYPE, vptConfigSchema, type VptConfig } from './config';
import { PLUGIN_NAME, injectVpt, loadVpt } from './vpt';

export * from './config';
export * from './vpt';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Visual Prompt Tuning (VPT shallow and deep) for ViT and CLIP\'s vision tower' },
  apply(ctx) {
    ctx.methods.register<VptConfig>({
      id: 'vpt',
      prefix: 'vpt_',
      family: 'prompt',
      description: 'Visual Prompt Tuning: learned prompt tokens after [CLS] at the input (shallow) or at every layer (deep)',
      configSchema: vptConfigSchema,
      // deep also needs hiddenStates: checked at inject, naming the mode.
      requires: ['inputEmbeddings'],
      inject: (model, config, mctx) => injectVpt(model, config, mctx.seed),
      load: (model, dir) => loadVpt(model, dir),
      recognizes: (dir) => peftTypeIn(dir) === VPT_PEFT_TYPE,
    });
  },
});
