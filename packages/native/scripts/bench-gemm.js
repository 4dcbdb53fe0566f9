#!/usr/bin/env node
// GFLOP/s of square products: the native GEMM called directly (1 and 2 threads), and
// tf.matMul on the wasm backend (XNNPACK) and on the tfjs backend 'native'; then the products of
// a GPT-2-small training step on the native GEMM. Run from the repo
// root after `npx tsc -b packages/native`: node packages/native/scripts/bench-gemm.js
'use strict';
const { tf, initBackend } = require('@leantune/tensor');
const native = require('../dist');

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median seconds per call over enough calls to fill ~0.5 s (at least 3). */
function time(fn) {
  fn();
  const samples = [];
  const start = performance.now();
  while (samples.length < 3 || performance.now() - start < 500) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  return median(samples);
}

function randomValues(size) {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = Math.random() * 2 - 1;
  return values;
}

const product = (a, b, transposeB) => () => tf.tidy(() => tf.matMul(a, b, false, transposeB)).dispose();

/** Runs measure(copies of `tensors`) on the tfjs backend 'native', then returns to wasm. */
async function onNative(tensors, measure) {
  const values = tensors.map((t) => [t.dataSync(), t.shape]);
  await tf.setBackend('native');
  const copies = values.map(([data, shape]) => tf.tensor(data, shape));
  const result = measure(copies);
  tf.dispose(copies);
  await tf.setBackend('wasm');
  return result;
}

async function main() {
  await initBackend({ backend: 'wasm', threads: 2 });
  const addon = native.loadAddon();
  native.registerNativeTfjsBackend({ addon });
  const rows = [];
  for (const n of [256, 512, 1024]) {
    const flops = 2 * n * n * n;
    const a = tf.randomNormal([n, n]);
    const b = tf.randomNormal([n, n]);
    const row = { n };
    for (const threads of [1, 2]) {
      addon.setThreads(threads);
      const [va, vb, out] = [a.dataSync(), b.dataSync(), new Float32Array(n * n)];
      row[`native ${threads} thr`] = flops / time(() => addon.matmul(va, vb, out, n, n, n, false, false, 1, null, null, null, 0, 0)) / 1e9;
      row[`native ${threads} thr, Bᵀ`] = flops / time(() => addon.matmul(va, vb, out, n, n, n, false, true, 1, null, null, null, 0, 0)) / 1e9;
    }
    addon.setThreads(2);
    row['wasm (XNNPACK)'] = flops / time(product(a, b, false)) / 1e9;
    row['wasm, Bᵀ'] = flops / time(product(a, b, true)) / 1e9;
    row["tf on 'native'"] = flops / (await onNative([a, b], ([x, y]) => time(product(x, y, false)))) / 1e9;
    rows.push(row);
    tf.dispose([a, b]);
  }
  // The attention products of the reference decoder: [8,4,128,64]·[8,4,128,64]ᵀ.
  const q = tf.randomNormal([8, 4, 128, 64]);
  const k = tf.randomNormal([8, 4, 128, 64]);
  const attentionFlops = 2 * 32 * 128 * 128 * 64;
  const wasmAttention = attentionFlops / time(product(q, k, true)) / 1e9;
  const nativeAttention = attentionFlops / (await onNative([q, k], ([x, y]) => time(product(x, y, true)))) / 1e9;
  // The products of one GPT-2-small training step at batch 4 × sequence 128 (m = 512 tokens):
  // forward linears, weight gradients (Aᵀ·B), input gradients (A·Bᵀ), the tied vocabulary
  // projection (A·Bᵀ with n = 50257), on the native GEMM directly.
  const shapes = [
    ['qkv   A·B', 512, 2304, 768, false, false],
    ['proj  A·B', 512, 768, 768, false, false],
    ['fc    A·B', 512, 3072, 768, false, false],
    ['fc2   A·B', 512, 768, 3072, false, false],
    ['dW    Aᵀ·B', 768, 768, 512, true, false],
    ['dWfc  Aᵀ·B', 768, 3072, 512, true, false],
    ['dX    A·Bᵀ', 512, 768, 3072, false, true],
    ['dXqkv A·Bᵀ', 512, 768, 2304, false, true],
    ['vocab A·Bᵀ', 512, 50257, 768, false, true],
  ];
  const gpt2 = [];
  for (const [name, m, n, k, transposeA, transposeB] of shapes) {
    const [va, vb, out] = [randomValues(m * k), randomValues(k * n), new Float32Array(m * n)];
    const row = { product: name, 'm×n×k': `${m}×${n}×${k}` };
    for (const threads of [1, 2]) {
      addon.setThreads(threads);
      row[`native ${threads} thr`] = (2 * m * n * k) / time(() => addon.matmul(va, vb, out, m, n, k, transposeA, transposeB, 1, null, null, null, 0, 0)) / 1e9;
    }
    gpt2.push(row);
  }
  addon.setThreads(2);
  const fmt = (v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v));
  const keys = Object.keys(rows[0]);
  console.log(`| ${keys.join(' | ')} |\n|${keys.map(() => ' --- ').join('|')}|`);
  for (const r of rows) console.log(`| ${keys.map((key) => fmt(r[key])).join(' | ')} |`);
  const gpt2Keys = Object.keys(gpt2[0]);
  console.log(`\nGPT-2-small training products (GFLOP/s)\n| ${gpt2Keys.join(' | ')} |\n|${gpt2Keys.map(() => ' --- ').join('|')}|`);
  for (const r of gpt2) console.log(`| ${gpt2Keys.map((key) => fmt(r[key])).join(' | ')} |`);
  console.log(`\nattention [8,4,128,64]·[8,4,128,64]ᵀ: wasm ${wasmAttention.toFixed(2)} GFLOP/s, native ${nativeAttention.toFixed(1)} GFLOP/s`);
  console.log(`isa ${addon.info().isa}; load average ${require('node:os').loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
