#!/usr/bin/env node
// Writes a GPT-2-small-shaped checkpoint folder in the Hugging Face layout (config.json,
// model.safetensors with transformers' names, tokenizer.json) with random weights at GPT-2's
// init scale, for examples/gpt2-small-brown-lora.json. Usage: node examples/write-gpt2-small.cjs [dir]
'use strict';
const path = require('node:path');
const { writeTinyHfCheckpoint } = require('@leantune/plugin-hf');

const dir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '.cache', 'gpt2-small-random'));
const started = Date.now();
const { config } = writeTinyHfCheckpoint('gpt2', dir, {
  layers: 12,
  gpt2Sizes: { embd: 768, heads: 12, positions: 1024, vocabSize: 50257 },
  // Uniform ±0.035 has GPT-2's N(0, 0.02) spread.
  weightRange: 0.02 * Math.sqrt(3),
  seed: 124,
});
console.log(`wrote ${dir} (n_layer ${config.n_layer}, n_embd ${config.n_embd}, vocab_size ${config.vocab_size}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
