#!/usr/bin/env node
// One training step of MobileNetV2 (nsfwjs weights, 96 px, batch 16, a fresh linear head trained
// in every case) on a tfjs backend, as `leantune compare -c examples/fashion-mobilenet.json` runs
// it: `--method lora` (default; r 8 on the 1×1 expand/project convs), `full` (every weight) or
// `linear-probe` (the head alone). Prints the median step time and
// the kernels that took the time (tf.profile of one step, summed per kernel name). The first
// step (warm-up: buffer pool, JIT) is printed apart and left out of the median.
// Run from the repo root after `npx tsc -b tsconfig.json`:
//   node packages/native/scripts/bench-mobilenet-step.js [--method lora|full|linear-probe] [--backend native] [--steps 5] [--size 96] [--batch 16] [--no-profile]
'use strict';
const os = require('node:os');
const { tf, initBackend } = require('@leantune/tensor');
const { loadMobileNetV2 } = require('@leantune/plugin-mobilenet-v2');
const { injectLora } = require('@leantune/plugin-lora');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i < 0 ? fallback : process.argv[i + 1];
}

function records(count, side) {
  return Array.from({ length: count }, (_, i) => {
    const px = new Uint8Array(side * side * 3);
    for (let p = 0; p < px.length; p++) px[p] = (p * (i + 7) * 2654435761) >>> 24;
    return { id: `r${i}`, image: px, label: i % 2 === 0 ? 'a' : 'b', meta: {} };
  });
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main() {
  const backend = option('backend', 'native');
  const steps = Number(option('steps', '5'));
  const size = Number(option('size', '96'));
  const batchSize = Number(option('batch', '16'));
  const method = option('method', 'lora');
  if (!['lora', 'full', 'linear-probe'].includes(method)) throw new Error(`--method ${method}: use lora, full or linear-probe`);
  await initBackend({ backend });
  const model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: ['a', 'b'], inputSize: size, head: 'linear' });
  if (method !== 'full') {
    model.module.freeze();
    if (method === 'lora') injectLora(model.module, { r: 8, lora_alpha: 16 }, { arch: 'mobilenet-v2', defaultTargets: model.defaultTargets });
    model.module.unfreeze(['classifier.weight', 'classifier.bias']); // the head trains in every arm
  }
  const vars = [...model.module.trainableVariables().values()];
  const batch = model.encode(records(batchSize, size));
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => model.loss(batch, true), vars);
    value.dataSync();
    for (const g of Object.values(grads)) g.dataSync();
  });
  const times = [];
  for (let i = 0; i <= steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  const [first, ...rest] = times;
  console.log(`${method}, backend ${tf.getBackend()}, ${size} px, batch ${batchSize}, ${vars.length} trainable tensors`);
  console.log(`step ms: warm-up ${first.toFixed(0)}, then ${rest.map((t) => t.toFixed(0)).join(' ')}; median ${median(rest).toFixed(0)}; `
    + `${(batchSize / (median(rest) / 1000)).toFixed(2)} samples/s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  if (process.argv.includes('--no-profile')) return;
  const info = await tf.profile(step);
  const byKernel = new Map();
  for (const k of info.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.calls += 1;
    byKernel.set(k.name, e);
  }
  const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
  const total = rows.reduce((s, [, e]) => s + e.ms, 0);
  console.log(`profiled step: kernels ${total.toFixed(0)} ms`);
  for (const [name, e] of rows.slice(0, 20)) console.log(`  ${name.padEnd(28)} ${e.ms.toFixed(0).padStart(7)} ms  ${String(e.calls).padStart(5)} calls`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
