#!/usr/bin/env node
// Why full fine-tuning of MobileNetV2 collapses at learning rate 1e-3 (issue 21): trains on 10
// Fashion-MNIST training images per class (the first 10 of each class in the IDX file) at 96 px,
// batch 16 drawn with a fixed LCG, AdamW (weight decay 0, no schedule, as `leantune train`
// configures it), and prints per step the loss, the gradient norm and, in eval mode after the
// step, the batch's final feature map (mean, max |value|) and the variance of its pooled 1280
// features across the batch's images (averaged over channels). Features that stop varying across images can no longer tell classes
// apart. Accuracy on 20 other images per class at step 0 and at the end.
// Run from the repository root after `npx tsc -b tsconfig.json`:
//   node plugins/model-mobilenet-v2/scripts/full-finetune-steps.js <full|lora|linear-probe> <lr> <frozen|train> <steps>
// (frozen|train: the model's batchNorm option; frozen is the default, running statistics always.)
'use strict';
const { tf, initBackend } = require('@leantune/tensor');
const { loadMobileNetV2 } = require('@leantune/plugin-mobilenet-v2');
const { injectLora } = require('@leantune/plugin-lora');
const { AdamW } = require('@leantune/train');
const { readIdx, collect } = require('@leantune/data');

const [mode = 'full', lrText = '1e-3', batchNorm = 'frozen', stepsText = '10'] = process.argv.slice(2);
const lr = Number(lrText);
const steps = Number(stepsText);
const DIR = '/usr/share/datasets/fashion-mnist';

function accuracy(model, records) {
  let correct = 0;
  for (let i = 0; i < records.length; i += 50) {
    const batch = model.encode(records.slice(i, i + 50));
    const probs = model.predict(batch);
    const predicted = tf.argMax(probs, 1).dataSync();
    const targets = batch.targets.dataSync();
    predicted.forEach((p, j) => { if (p === targets[j]) correct++; });
    tf.dispose([batch.inputs, batch.targets, probs]);
  }
  return correct / records.length;
}

async function main() {
  if (!['full', 'lora', 'linear-probe'].includes(mode) || !(lr > 0) || !['frozen', 'train'].includes(batchNorm) || !(steps >= 1)) {
    throw new Error('usage: full-finetune-steps.js <full|lora|linear-probe> <lr > 0> <frozen|train> <steps >= 1>');
  }
  await initBackend({ backend: process.env.BACKEND ?? 'native' });
  const { records } = await collect(readIdx(`${DIR}/train-images-idx3-ubyte.gz`, `${DIR}/train-labels-idx1-ubyte.gz`));
  const byLabel = new Map();
  for (const r of records) byLabel.set(String(r.label), [...(byLabel.get(String(r.label)) ?? []), r]);
  const train = [...byLabel.values()].flatMap((rs) => rs.slice(0, 10));
  const held = [...byLabel.values()].flatMap((rs) => rs.slice(1000, 1020));
  const model = await loadMobileNetV2({ name: 'mobilenet-v2', labels: [...byLabel.keys()], inputSize: 96, head: 'linear', batchNorm });
  if (mode !== 'full') {
    model.module.freeze();
    if (mode === 'lora') injectLora(model.module, { r: 8, lora_alpha: 16 }, { arch: 'mobilenet-v2', defaultTargets: model.defaultTargets });
    model.module.unfreeze(['classifier.weight', 'classifier.bias']);
  }
  const vars = model.module.trainableVariables();
  const optimizer = new AdamW(vars, { weightDecay: 0 });
  console.log(`${mode}, lr ${lr}, batchNorm ${batchNorm}: ${vars.size} trainable tensors; step 0 held-out accuracy ${accuracy(model, held).toFixed(3)}`);
  let state = 1;
  for (let step = 1; step <= steps; step++) {
    const picked = Array.from({ length: 16 }, () => { state = (state * 1103515245 + 12345) % 2147483648; return train[state % train.length]; });
    const batch = model.encode(picked);
    const t0 = Date.now();
    const { value, grads } = tf.variableGrads(() => model.loss(batch, true), [...vars.values()]);
    const named = new Map([...vars].map(([path, v]) => [path, grads[v.name]]));
    const gradNorm = Math.sqrt([...named.values()].reduce((s, g) => s + tf.tidy(() => tf.sum(tf.square(g)).dataSync()[0]), 0));
    optimizer.step(named, lr);
    const [mean, max, spread] = tf.tidy(() => {
      model.module.eval();
      const map = model.module.forwardFeatures(batch.inputs);
      return [tf.mean(map), tf.max(tf.abs(map)), tf.mean(tf.moments(tf.mean(map, [1, 2]), 0).variance)].map((t) => t.dataSync()[0]);
    });
    console.log(`step ${step} loss ${value.dataSync()[0].toFixed(4)} grad norm ${gradNorm.toFixed(2)} final feature map: mean ${mean.toFixed(3)} max ${max.toFixed(2)}; pooled features' variance across images ${spread.toExponential(2)} (${Date.now() - t0} ms)`);
    tf.dispose([value, ...Object.values(grads), batch.inputs, batch.targets]);
  }
  console.log(`step ${steps} held-out accuracy ${accuracy(model, held).toFixed(3)}`);
}

main().catch((err) => { console.error(err); process.exit(1); });
