#!/usr/bin/env node
// One training step of MobileNetV2 (real weights, 96 px, a fresh 10-class linear head, batch
// 8 of random 28×28 grey images) under a method, timed and profiled: the median and range of
// `steps` timed steps (after 2 warm-up steps), then one step under tf.profile with the kernels
// that took the most time, summed by name. Run from the repository root after
// `npx tsc -b tsconfig.json`:
//   node plugins/model-mobilenet-v2/scripts/profile-step.js <full|lora|bitfit|linear-probe> [steps] [backend]
// The step is the loss's gradient with respect to the method's trainable parameters (no
// optimizer update), on one thread, so two checkouts can be compared back to back.
'use strict';
const { tf, initBackend } = require('@leantune/tensor');
const { createToolkit } = require('@leantune/core');
const mobilenet = require('@leantune/plugin-mobilenet-v2').default;
const baselines = require('@leantune/plugin-baselines').default;
const lora = require('@leantune/plugin-lora').default;
const bitfit = require('@leantune/plugin-bitfit').default;

const [method = 'full', stepsText = '5', backend = 'native'] = process.argv.slice(2);
const steps = Number(stepsText);
const quiet = { info() {}, warn() {}, debug() {}, error: (m) => process.stderr.write(`${m}\n`) };

async function main() {
  if (!['full', 'lora', 'bitfit', 'linear-probe'].includes(method) || !(steps >= 1)) {
    throw new Error('usage: profile-step.js <full|lora|bitfit|linear-probe> [steps >= 1] [backend]');
  }
  await initBackend({ backend, threads: 1 });
  const toolkit = await createToolkit({ plugins: [mobilenet, baselines, lora, bitfit], log: quiet });
  const labels = Array.from({ length: 10 }, (_, i) => String(i));
  const config = method === 'lora' ? { r: 8, lora_alpha: 16 } : {};
  const run = toolkit.createRun({ model: { name: 'mobilenet-v2', inputSize: 96, head: 'linear', labels }, methods: { [method]: config }, runtime: { seed: 3, backend, threads: 1 } });
  const model = await run.loadModel();
  let seed = 7;
  const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const records = labels.slice(0, 8).map((label, i) => ({ id: `r${i}`, label, image: { data: Float32Array.from({ length: 28 * 28 }, next), shape: [28, 28, 1] } }));
  const batch = model.encode(records);
  const vars = [...model.module.trainableVariables().values()];
  const step = () => tf.tidy(() => tf.variableGrads(() => model.loss(batch, true), vars).value.dataSync()[0]);
  step();
  step();
  const times = [];
  for (let i = 0; i < steps; i++) {
    const t0 = process.hrtime.bigint();
    step();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const profile = await tf.profile(() => void step());
  const byName = new Map();
  for (const k of profile.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + k.kernelTimeMs);
  const total = [...byName.values()].reduce((a, b) => a + b, 0);
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([name, ms]) => `${name} ${ms.toFixed(0)}`).join(', ');
  console.log(`${method} on ${tf.getBackend()}: ${vars.length} trainable tensors; step median ${times[times.length >> 1].toFixed(0)} ms (min ${times[0].toFixed(0)}, max ${times[times.length - 1].toFixed(0)}, ${steps} steps); load average ${require('node:os').loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`  profiled step: kernels ${total.toFixed(0)} ms; most: ${top}`);
}

main().catch((e) => {
  console.error(e.message);
  process.exit(1);
});
