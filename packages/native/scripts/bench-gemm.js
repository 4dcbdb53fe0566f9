#!/usr/bin/env node
// GFLOP/s of square products: the native GEMM called directly (1 and 2 threads), and
// tf.matMul on the wasm backend with and without the native kernels. Run from the repo
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

async function main() {
  await initBackend({ backend: 'wasm', threads: 2 });
  const addon = native.loadAddon();
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
    const product = (transposeB) => () => tf.tidy(() => tf.matMul(a, b, false, transposeB)).dispose();
    native.uninstallNativeWasmKernels();
    row['wasm (XNNPACK)'] = flops / time(product(false)) / 1e9;
    row['wasm, Bᵀ'] = flops / time(product(true)) / 1e9;
    native.installNativeWasmKernels(addon);
    row['native kernels via tf'] = flops / time(product(false)) / 1e9;
    rows.push(row);
    tf.dispose([a, b]);
  }
  // The attention products of the reference decoder: [8,4,128,64]·[8,4,128,64]ᵀ.
  const q = tf.randomNormal([8, 4, 128, 64]);
  const k = tf.randomNormal([8, 4, 128, 64]);
  const attention = () => tf.tidy(() => tf.matMul(q, k, false, true)).dispose();
  const attentionFlops = 2 * 32 * 128 * 128 * 64;
  native.uninstallNativeWasmKernels();
  const wasmAttention = attentionFlops / time(attention) / 1e9;
  native.installNativeWasmKernels(addon);
  const nativeAttention = attentionFlops / time(attention) / 1e9;
  const fmt = (v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(1) : String(v));
  const keys = Object.keys(rows[0]);
  console.log(`| ${keys.join(' | ')} |\n|${keys.map(() => ' --- ').join('|')}|`);
  for (const r of rows) console.log(`| ${keys.map((key) => fmt(r[key])).join(' | ')} |`);
  console.log(`\nattention [8,4,128,64]·[8,4,128,64]ᵀ: wasm ${wasmAttention.toFixed(2)} GFLOP/s, native ${nativeAttention.toFixed(1)} GFLOP/s`);
  console.log(`isa ${addon.info().isa}; load average ${require('node:os').loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
