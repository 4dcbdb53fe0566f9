import { definePlugin } from '@leantune/core';
import { peftTypeIn } from '@leantune/peft';
import { loraConfigSchema, type LoraConfig } from './config';
import { injectLora } from './model';
import { loadAdapter } from './peft-io';

export * from './config';
export * from './lora-layer';
export * from './lora-linear';
export * from './lora-embedding-conv';
export * from './modules';
export * from './modules-to-save';
export * from './targets';
export * from './model';
export * from './combine';
export * from './peft-io';
export { svd, svdLowRank, truncate, type Svd } from './svd';

export const PLUGIN_NAME = '@leantune/plugin-lora';

const LLAMA_FAMILY_TARGETS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;

/** Default target modules per architecture key (PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING). */
export const LORA_DEFAULT_TARGETS: Readonly<Record<string, readonly string[]>> = {
  gpt2: ['c_attn'],
  bert: ['query', 'value'],
  roberta: ['query', 'value'],
  vit: ['query', 'value'],
  clip: ['q_proj', 'v_proj'],
  'use-lite': ['q', 'v'],
  // Llama-family decoders: every projection of attention and the SwiGLU MLP (issue 14).
  llama: LLAMA_FAMILY_TARGETS,
  qwen2: LLAMA_FAMILY_TARGETS,
  mistral: LLAMA_FAMILY_TARGETS,
};

export default definePlugin({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'LoRA, rsLoRA, DoRA and PiSSA init (Linear, Conv1D, Embedding, Conv2d), in Hugging Face PEFT format' },
  apply(ctx) {
    ctx.methods.register<LoraConfig>({
      id: 'lora',
      prefix: 'lora_',
      family: 'reparameterization',
      description: 'LoRA family (LoRA, rsLoRA, DoRA, PiSSA init), Hugging Face PEFT compatible',
      configSchema: loraConfigSchema,
      defaultTargets: LORA_DEFAULT_TARGETS,
      // The handle (LoraModel) trains `lora_*` segments and the trainable copies of modules_to_save.
      inject: (model, config, mctx) => injectLora(model.module, config, { arch: mctx.arch, defaultTargets: mctx.defaultTargets }),
      load: (model, dir) => loadAdapter(model.module, dir),
      recognizes: (dir) => peftTypeIn(dir) === 'LORA',
    });
  },
});
