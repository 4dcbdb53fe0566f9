#!/usr/bin/env node
// Writes a small ViT (ViTForImageClassification, 4 layers × 64, 4 heads, MLP 128, 28 px images of
// 7 px patches: 16 patches + [CLS]) in the Hugging Face layout with random weights at ViT's init
// scale (uniform ±0.035 ≈ N(0, 0.02)), to pretrain on MNIST with examples/vit-mnist-pretrain.json.
// No pretrained ViT can be installed here; this is the "pretrained model we can make" of issue 13.
// Usage: node examples/write-vit-tiny.cjs [dir]
'use strict';
const path = require('node:path');
const { writeTinyHfCheckpoint } = require('@leantune/plugin-hf');

const dir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '.cache', 'vit-tiny-random'));
const digits = Array.from({ length: 10 }, (_, i) => String(i));
const { config } = writeTinyHfCheckpoint('vit', dir, {
  layers: 4,
  vitSizes: { hidden: 64, heads: 4, intermediate: 128, image: 28, patch: 7, labels: digits },
  weightRange: 0.02 * Math.sqrt(3),
  seed: 28,
});
console.log(`wrote ${dir} (${config.num_hidden_layers} layers × ${config.hidden_size}, ${config.image_size} px images of ${config.patch_size} px patches)`);
