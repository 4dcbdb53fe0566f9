import fs from 'node:fs';
import path from 'node:path';
import { definePlugin } from '@leantune/core';
import { HARD_PROMPT_FILE, PLUGIN_NAME, hardPromptConfigSchema, injectHardPrompt, loadHardPrompt, type HardPromptConfig } from './hard-prompt';

export * from './hard-prompt';

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'Hand-written prompt templates: zero-shot CLIP (and embedding models through the API), with prompt ensembling' },
  apply(ctx) {
    ctx.methods.register<HardPromptConfig>({
      id: 'hard-prompt',
      family: 'baseline',
      trainsNothing: true,
      description: 'Zero-shot with hand-written templates ("a photo of a {}."), ensembled over several: a run only evaluates',
      configSchema: hardPromptConfigSchema,
      requires: ['textTokenEmbeddings'],
      inject: (model, config) => injectHardPrompt(model, config),
      load: (model, dir) => loadHardPrompt(model, dir),
      recognizes: (dir) => fs.existsSync(path.join(dir, HARD_PROMPT_FILE)),
    });
  },
});
