import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadTrainedModel } from '@leantune/cli';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { loadSafetensors, tf } from '@leantune/tensor';
import { cli, fixtures, localConfig, onlyRun, tempDir } from './helpers';

// QLoRA through the CLI (issue 17): train LoRA over an nf4 base (model.quantize), reload the
// run folder (quantized again), merge with --quantized dequantize / requantize.

describe('GPT-2 with model.quantize nf4 + double quantization: train, reload, merge', () => {
  const cwd = tempDir('lt-qlora-');
  const gpt2 = join(cwd, 'gpt2');
  let run = '';
  const quiet = { info: () => undefined, warn: () => undefined };
  const ids = tf.tensor2d([[3, 7, 11, 2]], [1, 4], 'int32');
  const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

  beforeAll(async () => {
    writeTinyHfCheckpoint('gpt2', gpt2, { weightRange: 0.05 });
    const r = await cli(cwd, ['train', '-c', localConfig(cwd, join(fixtures, 'tiny-gpt2.json')), '--override', JSON.stringify({ model: { name: 'hf', path: gpt2, quantize: { type: 'nf4', doubleQuant: true } } })]);
    expect(r.code).toBe(0);
    // The summary line reports what was quantized: 1 block's c_attn, c_proj, c_fc, mlp.c_proj.
    const summary = JSON.parse(r.out.split('\n')[0]);
    expect(summary.quantized).toMatchObject({ format: 'nf4', doubleQuant: true, weights: 4 });
    expect(summary.quantized.bytesAfter).toBeLessThan(summary.quantized.bytesBefore / 6);
    run = onlyRun(cwd);
  }, 60_000);

  it('saves an ordinary PEFT adapter (LoRA keys only) and reloads the run with its base quantized again', async () => {
    const file = loadSafetensors(join(run, 'adapters', 'lora', 'adapter_model.safetensors'));
    expect([...file.tensors.keys()].every((k) => /lora_[AB]\.weight$/.test(k))).toBe(true);
    for (const t of file.tensors.values()) t.dispose();
    const trained = await loadTrainedModel({ run });
    const quantized = [...trained.model.module.namedParameters()].filter(([, p]) => p.quantized);
    expect(quantized.length).toBeGreaterThan(0);
    expect(quantized.every(([path, p]) => path.endsWith('.weight') && p.quantized!.format === 'nf4' && !p.requiresGrad)).toBe(true);
  });

  it('merge --quantized dequantize writes dequant(W) + ΔW (same logits as the run); requantize reports the error it adds', async () => {
    const trained = await loadTrainedModel({ run });
    const reference = trained.model.module.forward(ids) as tf.Tensor;
    const d = await cli(cwd, ['merge', run, '-o', 'merged-fp32', '--quantized', 'dequantize']);
    expect(d.code).toBe(0);
    expect(JSON.parse(d.out).quantized).toMatchObject({ mode: 'dequantize', spec: { type: 'nf4', doubleQuant: true } });
    const plain = await loadHfCheckpoint(join(cwd, 'merged-fp32'), { log: quiet });
    expect(maxAbs(plain.module.forward(ids) as tf.Tensor, reference)).toBeLessThan(1e-4);

    const q = await cli(cwd, ['merge', run, '-o', 'merged-nf4', '--quantized', 'requantize']);
    expect(q.code).toBe(0);
    const report = JSON.parse(q.out).quantized;
    expect(report.mode).toBe('requantize');
    expect(report.requantize.relativeError).toBeGreaterThan(0.001);
    expect(report.requantize.maxRelativeError).toBeGreaterThanOrEqual(report.requantize.relativeError);
    expect(readdirSync(join(cwd, 'merged-nf4'))).toContain('model.safetensors');
    const requantized = await loadHfCheckpoint(join(cwd, 'merged-nf4'), { log: quiet });
    const drift = maxAbs(requantized.module.forward(ids) as tf.Tensor, reference);
    expect(drift).toBeGreaterThan(0);
    reference.dispose();
  });

  it('--quantized on a run without model.quantize stops with a config error', async () => {
    const other = tempDir('lt-qlora-plain-');
    const g = join(other, 'gpt2');
    writeTinyHfCheckpoint('gpt2', g);
    expect((await cli(other, ['train', '-c', localConfig(other, join(fixtures, 'tiny-gpt2.json')), '--quiet', '--override', JSON.stringify({ model: { name: 'hf', path: g } })])).code).toBe(0);
    const r = await cli(other, ['merge', onlyRun(other), '-o', 'm', '--quantized', 'requantize']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('--quantized requantize: the base of');
    expect(existsSync(join(other, 'm'))).toBe(false);
  }, 60_000);
});
