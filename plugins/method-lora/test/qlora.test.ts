import { createToolkit, type Toolkit } from '@leantune/core';
import { causalLmLoss, loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quietLog as quiet, tempDir, tinyDataPlugin, tinyModelPlugin } from '@leantune/testing';
import { dequantizedStateDict, loadSafetensors, quantizeModule, setSeed, tf, type QuantizeSpec } from '@leantune/tensor';
import { createTrainDriver } from '@leantune/train';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import loraPlugin, { LoraModel, injectLora, isLoraParameterPath, saveAdapter } from '../src';

// QLoRA on a CPU (issue 17): frozen base weights quantized (model.quantize), LoRA on top.

const SPECS: QuantizeSpec[] = [{ type: 'bf16' }, { type: 'fp16' }, { type: 'int8' }, { type: 'nf4' }, { type: 'nf4', doubleQuant: true }];
const label = (s: QuantizeSpec) => s.type + (s.doubleQuant ? '+dq' : '');

/**
 * A GPT-2-shaped fixture (2 blocks, n_embd 64, 4 heads): every block's Conv1D is quantizable.
 * Weights U(±0.05) (std 0.029, the scale of GPT-2's N(0, 0.02) init) rather than the
 * fixture's default U(±0.5), whose activations are far larger than a real model's.
 */
function gpt2Fixture(): string {
  const dir = tempDir('qlora-gpt2');
  writeTinyHfCheckpoint('gpt2', dir, { layers: 2, seed: 5, weightRange: 0.05, gpt2Sizes: { embd: 64, heads: 4, positions: 32 } });
  return dir;
}

function cosine(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.div(tf.sum(tf.mul(a, b)), tf.mul(tf.norm(a), tf.norm(b))).dataSync()[0]);
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}

describe('QLoRA: LoRA over a quantized base', () => {
  let dir = '';
  let ids: tf.Tensor2D;
  let mask: tf.Tensor2D;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    setSeed(3);
    dir = gpt2Fixture();
    const m = await loadHfCheckpoint(dir, { log: quiet });
    const vocab = (m.module as unknown as { dims: { vocabSize: number } }).dims.vocabSize;
    ids = tf.tensor2d(Array.from({ length: 2 * 16 }, (_, i) => (i * 37 + 11) % vocab), [2, 16], 'int32') as tf.Tensor2D;
    mask = tf.ones([2, 16], 'int32') as tf.Tensor2D;
    m.module.dispose();
  });

  it('logits of a GPT-2-shaped model per format against fp32: max abs error and cosine (printed), ordered fp16 < bf16 < int8 < nf4', async () => {
    const fp32 = await loadHfCheckpoint(dir, { log: quiet });
    fp32.module.eval();
    const ref = fp32.module.forward(ids, mask) as tf.Tensor;
    const rows: Record<string, { maxAbs: number; cosine: number; bytes: string }> = {};
    for (const spec of SPECS) {
      const m = await loadHfCheckpoint(dir, { log: quiet });
      m.module.eval();
      m.module.freeze();
      const report = quantizeModule(m.module, spec);
      // Every block's c_attn, c_proj, c_fc, mlp.c_proj; wte/wpe, norms and biases stay fp32.
      expect(report.quantized.length).toBe(2 * 4);
      expect(report.quantized.every((p) => /\.(c_attn|c_proj|c_fc)\.weight$/.test(p))).toBe(true);
      const logits = m.module.forward(ids, mask) as tf.Tensor;
      rows[label(spec)] = { maxAbs: maxAbs(logits, ref), cosine: cosine(logits, ref), bytes: `${report.bytesBefore} → ${report.bytesAfter}` };
      logits.dispose();
      m.module.dispose();
    }
    ref.dispose();
    fp32.module.dispose();
    // eslint-disable-next-line no-console
    console.log(`GPT-2-shaped fixture (2 blocks, n_embd 64), logits vs fp32:\n${Object.entries(rows).map(([k, v]) => `  ${k.padEnd(7)} max abs ${v.maxAbs.toExponential(2)}  cosine ${v.cosine.toFixed(7)}  weight bytes ${v.bytes}`).join('\n')}`);
    expect(rows.fp16.maxAbs).toBeLessThan(rows.bf16.maxAbs);
    expect(rows.bf16.maxAbs).toBeLessThan(rows.int8.maxAbs);
    expect(rows.int8.maxAbs).toBeLessThan(rows.nf4.maxAbs);
    for (const k of ['fp16', 'bf16', 'int8']) expect(rows[k].cosine).toBeGreaterThan(0.9999);
    for (const k of ['nf4', 'nf4+dq']) expect(rows[k].cosine).toBeGreaterThan(0.99);
  });

  it.each(SPECS.map((s) => [label(s), s] as const))('%s: LoRA, rsLoRA and DoRA train over the quantized base, equal an fp32 twin holding the dequantized weights, and save plain PEFT files', async (_name, spec) => {
    const variants = [{ r: 4, lora_alpha: 8 }, { r: 4, lora_alpha: 8, use_rslora: true }, { r: 4, lora_alpha: 8, use_dora: true }];
    for (const cfg of variants) {
      const setup = async (quantize: boolean) => {
        setSeed(9);
        const m = await loadHfCheckpoint(dir, { log: quiet });
        m.module.eval();
        const lora = injectLora(m.module, { ...cfg, target_modules: ['c_attn', 'c_proj', 'c_fc'] }, { arch: 'gpt2' });
        m.module.freeze();
        m.module.unfreeze((p) => isLoraParameterPath(p));
        if (quantize) quantizeModule(m.module, spec);
        return { m, lora };
      };
      const q = await setup(true);
      const twin = await setup(false);
      const state = dequantizedStateDict(q.m.module);
      twin.m.module.loadStateDict(state);
      tf.dispose([...state.values()]);
      // Same adapters (same seed), same effective base weights: same logits.
      const a = q.m.module.forward(ids, mask) as tf.Tensor;
      const b = twin.m.module.forward(ids, mask) as tf.Tensor;
      expect(maxAbs(a, b)).toBeLessThan(1e-4);
      tf.dispose([a, b]);

      const trainable = [...q.m.module.trainableVariables().values()];
      const loss = () => causalLmLoss(q.m.module.forward(ids, mask) as tf.Tensor, ids, mask);
      const before = tf.tidy(() => loss().dataSync()[0]);
      const opt = tf.train.adam(0.05);
      for (let step = 0; step < 8; step++) tf.tidy(() => void opt.minimize(loss, false, trainable));
      const after = tf.tidy(() => loss().dataSync()[0]);
      expect(after).toBeLessThan(before * 0.97);
      opt.dispose();

      // The adapter folder is what the fp32 model writes: the same keys, shapes and dtypes.
      const outQ = saveAdapter(q.lora as LoraModel, tempDir('qlora-save'));
      const outF = saveAdapter(twin.lora as LoraModel, tempDir('qlora-save-fp32'));
      expect(readdirSync(outQ).sort()).toEqual(readdirSync(outF).sort());
      const fq = loadSafetensors(join(outQ, 'adapter_model.safetensors'));
      const ff = loadSafetensors(join(outF, 'adapter_model.safetensors'));
      const summary = (l: typeof fq) => [...l.tensors.entries()].map(([k, t]) => [k, t.shape, t.dtype]).sort();
      expect(summary(fq)).toEqual(summary(ff));
      for (const l of [fq, ff]) for (const t of l.tensors.values()) t.dispose();
      q.m.module.dispose();
      twin.m.module.dispose();
    }
  });
});

describe('model.quantize through a core Run', () => {
  let toolkit: Toolkit;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    toolkit = await createToolkit({ plugins: [tinyModelPlugin, tinyDataPlugin, loraPlugin], trainer: createTrainDriver(), log: quiet });
  });

  const config = (quantize: unknown) => ({
    model: { name: 'tiny-text', quantize },
    methods: { lora: { r: 4, lora_alpha: 8 } },
    trainable: ['classifier\\..*'],
    data: { name: 'tiny-sentiment' },
    train: { epochs: 3, batchSize: 8, learningRate: 0.05 },
    runtime: { seed: 3 },
  });

  it('quantizes the frozen base after the trainable set is chosen, trains LoRA over it without leaking, and reports the bytes', async () => {
    const run = toolkit.createRun(config({ type: 'nf4', doubleQuant: true }));
    const model = await run.loadModel();
    const base = model.module.getParameter('encoder.dense.base_layer.weight');
    expect(base.quantized?.format).toBe('nf4');
    expect(base.quantized?.doubleQuant).toBeDefined();
    // The trained classifier and the LoRA matrices stay fp32.
    expect(model.module.getParameter('classifier.weight').quantized).toBeUndefined();
    expect(model.module.getParameter('encoder.dense.lora_A.default.weight').quantized).toBeUndefined();
    expect(run.quantization).toMatchObject({ format: 'nf4', doubleQuant: true, quantized: ['encoder.dense.base_layer.weight'] });
    expect(run.quantization!.bytesAfter).toBeLessThan(run.quantization!.bytesBefore / 6);
    const dataset = await run.loadData();
    const lossBefore = tf.tidy(() => model.loss!(model.encode!(dataset.splits!.train), false).dataSync()[0]);
    const packed = base.quantized!.data.slice();
    const steps: number[] = [];
    run.hooks.afterStep.tap('leak-check', () => void steps.push(tf.memory().numTensors));
    await run.fit();
    const lossAfter = tf.tidy(() => model.loss!(model.encode!(dataset.splits!.train), false).dataSync()[0]);
    expect(lossAfter).toBeLessThan(lossBefore * 0.9);
    expect(base.quantized!.data).toEqual(packed);
    expect(steps[steps.length - 1]).toBe(steps[2]);
  });

  it('without model.quantize nothing is quantized', async () => {
    const run = toolkit.createRun({ ...config(undefined), model: 'tiny-text' });
    const model = await run.loadModel();
    expect(run.quantization).toBeUndefined();
    expect([...model.module.namedParameters()].some(([, p]) => p.quantized)).toBe(false);
  });

  it('refuses an unknown format at config time, naming the field', () => {
    expect(() => toolkit.createRun(config('int4'))).toThrow(/\/model\/quantize/);
    expect(() => toolkit.createRun(config({ type: 'int8', extra: 1 }))).toThrow(/\/model\/quantize/);
  });
});
