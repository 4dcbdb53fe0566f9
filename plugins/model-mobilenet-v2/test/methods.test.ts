import fs from 'node:fs';
import path from 'node:path';
import { createToolkit, type Batch, type LoadedModel, type MethodHandle, type Run, type Toolkit } from '@leantune/core';
import adapterPlugin, { AdapterLayer } from '@leantune/plugin-adapter';
import baselinesPlugin from '@leantune/plugin-baselines';
import bitfitPlugin from '@leantune/plugin-bitfit';
import ia3Plugin, { Ia3Layer } from '@leantune/plugin-ia3';
import lnTuningPlugin from '@leantune/plugin-ln-tuning';
import loraPlugin, { injectLora, LoraConv2d } from '@leantune/plugin-lora';
import { BatchNorm, tf } from '@leantune/tensor';
import { maxAbsDiff, pathsTrainedBy, quietLog as quiet, snapshot, tempDir } from '@leantune/testing';
import mobilenetPlugin, { createMobileNetV2, MOBILENET_DEFAULT_TARGETS } from '../src';
import { warmColdRecords } from './records';

jest.setTimeout(300_000);

const MODEL = { name: 'mobilenet-v2', inputSize: 32, labels: ['warm', 'cold'] };

interface Loaded {
  run: Run;
  model: LoadedModel;
  handle: MethodHandle;
}

async function withMethod(toolkit: Toolkit, id: string, config: Record<string, unknown> = {}, model: Record<string, unknown> = MODEL): Promise<Loaded> {
  const run = toolkit.createRun({ model, methods: { [id]: config }, runtime: { seed: 3, backend: 'cpu' } });
  const loaded = await run.loadModel();
  return { run, model: loaded, handle: run.methods.find((m) => m.id === id)!.handle };
}

const lossOf = (model: LoadedModel, batch: Batch, training = false) => tf.tidy(() => model.loss!(batch, training).dataSync()[0]);

/** Plain SGD on the run's trainable variables (the ones the method selected). */
function sgd(model: LoadedModel, batch: Batch, steps: number, lr: number): void {
  const vars = [...model.module.trainableVariables().values()];
  for (let s = 0; s < steps; s++) {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => model.loss!(batch, true), vars);
      for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name], lr)));
    });
  }
}

/** `steps` SGD steps lower the loss (eval mode) on the batch. */
function expectLossDrops(model: LoadedModel, batch: Batch, steps: number, lr: number): void {
  const before = lossOf(model, batch);
  sgd(model, batch, steps, lr);
  expect(lossOf(model, batch)).toBeLessThan(before);
}

/** A fresh model with the method's saved folder loaded through the method's `load` predicts exactly what the trained one does. */
async function reloadsIdentically(toolkit: Toolkit, id: string, trained: Loaded, batch: Batch): Promise<MethodHandle> {
  const dir = tempDir(`mobilenet-${id}`);
  trained.handle.save!(dir);
  const fresh = await toolkit.createRun({ model: MODEL, methods: {}, runtime: { seed: 3, backend: 'cpu' } }).loadModel();
  // The classifier is fresh (two labels) in both: copy it, as a run's --adapter load would restore a trained head.
  fresh.module.getSubmodule('classifier').loadStateDict(trained.model.module.getSubmodule('classifier').stateDict());
  expect(maxAbsDiff(fresh.predict!(batch), trained.model.predict!(batch))).toBeGreaterThan(1e-6);
  const handle = await toolkit.methods.get(id)!.load!(fresh, dir);
  expect(maxAbsDiff(fresh.predict!(batch), trained.model.predict!(batch))).toBe(0);
  fresh.module.dispose();
  return handle;
}

describe('PEFT methods on MobileNetV2 (nsfwjs weights, 32 px, four images)', () => {
  let toolkit: Toolkit;
  let batch: Batch;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [mobilenetPlugin, loraPlugin, adapterPlugin, ia3Plugin, bitfitPlugin, lnTuningPlugin, baselinesPlugin], log: quiet });
    const probe = await withMethod(toolkit, 'zero-shot');
    batch = probe.model.encode!(warmColdRecords(32));
    probe.model.module.dispose();
  });

  it('the model declares its default targets: the blocks\' 1×1 convs (layer methods) and the 17 inverted residual blocks (adapters)', async () => {
    const { model } = await withMethod(toolkit, 'zero-shot');
    expect(model.defaultTargets).toEqual(MOBILENET_DEFAULT_TARGETS);
    expect(model.blockTargets).toEqual(Array.from({ length: 17 }, (_, i) => `features.${i + 1}`));
    model.module.dispose();
  });

  it('LoRA with no target_modules wraps the 33 pointwise convs (no depthwise), trains, saves and reloads', async () => {
    const trained = await withMethod(toolkit, 'lora', { r: 2, lora_alpha: 4 });
    const layers = [...trained.model.module.namedModules()].filter(([, m]) => m instanceof LoraConv2d).map(([p]) => p);
    expect(layers).toHaveLength(16 * 2 + 1); // features.1 has no expand conv
    expect(layers.every((p) => /^features\.\d+\.(expand|project)\.conv$/.test(p))).toBe(true);
    expect(pathsTrainedBy(trained.handle, trained.model.module).every((p) => p.includes('.lora_'))).toBe(true);
    expectLossDrops(trained.model, batch, 2, 0.05);
    await reloadsIdentically(toolkit, 'lora', trained, batch);
    trained.model.module.dispose();
  });

  it('LoRA "all-linear" on a conv-only model (head "linear") fails saying what to write; with the MLP head it takes the head\'s Dense layers', async () => {
    const convOnly = createMobileNetV2({ ...MODEL, head: 'linear' }).module;
    const untouched = snapshot(convOnly);
    expect(() => injectLora(convOnly, { target_modules: 'all-linear' }, { arch: 'mobilenet-v2', defaultTargets: MOBILENET_DEFAULT_TARGETS })).toThrow(
      /"all-linear" picks Linear\/Conv1D layers \(except the output head\), and this model has none \(it has 35 Conv2d layers\): leave target_modules unset to use this model's default targets \["expand\.conv","project\.conv"\]/,
    );
    // Without model defaults the message names its convolutions.
    expect(() => injectLora(convOnly, { target_modules: 'all-linear' })).toThrow(/target its convolutions instead, e\.g\. "target_modules": \["0\.conv","project\.conv","expand\.conv","18\.conv"\]/);
    expect(snapshot(convOnly)).toEqual(untouched);
    const run = toolkit.createRun({ model: { ...MODEL, head: 'linear' }, methods: { lora: { target_modules: 'all-linear' } } });
    await expect(run.loadModel()).rejects.toThrow(/Method "lora" failed to inject.*"all-linear".*has none/s);
    const mlp = createMobileNetV2(MODEL).module;
    const lora = injectLora(mlp, { target_modules: 'all-linear', r: 2 });
    expect(lora.layers().map(([p]) => p)).toEqual(['head.0.dense', 'head.1.dense']);
    for (const m of [convOnly, mlp]) m.dispose();
  });

  it('IA3 with no target_modules scales the output channels of the 33 pointwise convs ([1, out, 1, 1], PEFT\'s Conv2d shape); trains, merges into the conv weights, saves and reloads', async () => {
    const trained = await withMethod(toolkit, 'ia3');
    const layers = [...trained.model.module.namedModules()].filter(([, m]) => m instanceof Ia3Layer) as Array<[string, Ia3Layer]>;
    expect(layers).toHaveLength(33);
    expect(trained.model.module.getParameter('features.3.expand.conv.ia3_l.default').shape).toEqual([1, 144, 1, 1]);
    expectLossDrops(trained.model, batch, 2, 0.05);
    await reloadsIdentically(toolkit, 'ia3', trained, batch);
    const unmerged = trained.model.predict!(batch);
    trained.handle.merge!();
    expect(maxAbsDiff(trained.model.predict!(batch), unmerged)).toBeLessThan(1e-5);
    trained.model.module.dispose();
  });

  it('bottleneck adapters: a zero-initialised residual 1×1 conv adapter after each block; starts equal to the base, trains, saves (BOTTLENECK folder) and reloads', async () => {
    const base = await withMethod(toolkit, 'zero-shot');
    const trained = await withMethod(toolkit, 'adapter', { reduction_factor: 4 });
    const wrapped = [...trained.model.module.namedModules()].filter(([, m]) => m instanceof AdapterLayer) as Array<[string, AdapterLayer]>;
    expect(wrapped.map(([p]) => p)).toEqual(Array.from({ length: 17 }, (_, i) => `features.${i + 1}`));
    // features.3: 24 → 24 channels; bottleneck 24 / 4 = 6: down [6, 24], up [24, 6] (a 1×1 conv's weight without the 1×1).
    expect(trained.model.module.getParameter('features.3.adapter_down.weight').shape).toEqual([6, 24]);
    expect(trained.model.module.getParameter('features.3.adapter_up.weight').shape).toEqual([24, 6]);
    trained.model.module.getSubmodule('classifier').loadStateDict(base.model.module.getSubmodule('classifier').stateDict());
    expect(maxAbsDiff(trained.model.predict!(batch), base.model.predict!(batch))).toBe(0);
    expectLossDrops(trained.model, batch, 2, 0.05);
    expect(tf.tidy(() => tf.max(tf.abs(trained.model.module.getParameter('features.3.adapter_up.weight').variable)).dataSync()[0])).toBeGreaterThan(0);
    await reloadsIdentically(toolkit, 'adapter', trained, batch);
    // "parallel" beside a strided block is refused with the block named, not a shape error deep in tfjs.
    const parallel = await withMethod(toolkit, 'adapter', { config: 'parallel', target_modules: ['features.2'] });
    expect(() => parallel.model.predict!(batch)).toThrow(/Adapter \(parallel\) on a InvertedResidual: its input \[4,16,16,16\] and output \[4,8,8,24\] differ/);
    for (const m of [base, trained, parallel]) m.model.module.dispose();
  });

  it('BitFit: the BatchNorm shifts (β, the folded conv biases) and the head\'s biases; trains, saves and reloads', async () => {
    const trained = await withMethod(toolkit, 'bitfit');
    const paths = pathsTrainedBy(trained.handle, trained.model.module);
    // 52 BatchNorms (no conv has a bias) + head.0, head.1, classifier.
    expect(paths.filter((p) => p.endsWith('.bn.bias'))).toHaveLength(52);
    expect(paths.filter((p) => !p.endsWith('.bn.bias'))).toEqual(['head.0.dense.bias', 'head.1.dense.bias', 'classifier.bias']);
    expectLossDrops(trained.model, batch, 2, 0.05);
    await reloadsIdentically(toolkit, 'bitfit', trained, batch);
    trained.model.module.dispose();
  });

  it('norm tuning on BatchNorm: γ/β of all 52 BNs with running statistics frozen (default): they never move, and are not trainable', async () => {
    const trained = await withMethod(toolkit, 'ln-tuning');
    const paths = pathsTrainedBy(trained.handle, trained.model.module);
    expect(paths).toHaveLength(52 * 2);
    expect(paths.every((p) => /\.bn\.(weight|bias)$/.test(p))).toBe(true);
    const stats = trained.model.module.getParameter('features.5.expand.bn.running_mean');
    expect(stats.requiresGrad).toBe(false);
    const statsBefore = Array.from(stats.variable.dataSync());
    expectLossDrops(trained.model, batch, 2, 0.05);
    expect(Array.from(stats.variable.dataSync())).toEqual(statsBefore);
    const loaded = await reloadsIdentically(toolkit, 'ln-tuning', trained, batch);
    expect(loaded.config).toMatchObject({ running_stats: 'frozen' });
    trained.model.module.dispose();
  });

  it('norm tuning with running_stats "reestimate": training batches update the running statistics (momentum), which are saved and reloaded', async () => {
    const trained = await withMethod(toolkit, 'ln-tuning', { running_stats: 'reestimate', momentum: 0.5 });
    const bn = trained.model.module.getSubmodule('features.5.expand.bn') as BatchNorm;
    expect([bn.statistics, bn.momentum]).toEqual(['batch', 0.5]);
    const statsBefore = Array.from(bn.getParameter('running_var').variable.dataSync());
    sgd(trained.model, batch, 2, 0.01);
    const statsAfter = Array.from(bn.getParameter('running_var').variable.dataSync());
    expect(maxAbsDiff(tf.tensor1d(statsAfter), tf.tensor1d(statsBefore))).toBeGreaterThan(1e-3);
    const dir = tempDir('mobilenet-bn-reestimate');
    trained.handle.save!(dir);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'adapter_config.json'), 'utf8'))).toMatchObject({ peft_type: 'LN_TUNING', running_stats: 'reestimate', momentum: 0.5 });
    const loaded = await reloadsIdentically(toolkit, 'ln-tuning', trained, batch);
    expect(loaded.config).toMatchObject({ running_stats: 'reestimate', momentum: 0.5 });
    trained.model.module.dispose();
  });

  it('linear probe trains only the classifier; full fine-tuning every weight but never the BatchNorm running statistics', async () => {
    const probe = await withMethod(toolkit, 'linear-probe');
    expect([...probe.model.module.trainableVariables().keys()]).toEqual(['classifier.weight', 'classifier.bias']);
    expectLossDrops(probe.model, batch, 2, 0.1);
    probe.model.module.dispose();

    const full = await withMethod(toolkit, 'full');
    const trainable = [...full.model.module.trainableVariables().keys()];
    const { total, trainable: count } = full.model.module.countParameters();
    expect(trainable.some((p) => p.includes('running_'))).toBe(false);
    expect(total - count).toBe(34112); // exactly the BN running statistics stay out
    // One step: every conv then takes Conv2d's trainable path (no filter cache), the slowest test here.
    expectLossDrops(full.model, batch, 1, 0.01);
    full.model.module.dispose();
  }, 400_000);
});
