import { causalLmLoss, loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quantizeModule, setSeed, tf, type Module, type QuantizeSpec } from '@leantune/tensor';
import { quietLog as quiet, tempDir } from '@leantune/testing';
import { injectIa3 } from '../src';

// IA3 over a base quantized with model.quantize (issue 17).

describe('IA3 over a quantized base', () => {
  let dir = '';
  const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % 50), [2, 12], 'int32');
  const mask = tf.ones([2, 12], 'int32');
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = tempDir('ia3-quant');
    writeTinyHfCheckpoint('gpt2', dir, { layers: 1, seed: 2, weightRange: 0.05, gpt2Sizes: { embd: 32, heads: 2, positions: 16 } });
  });

  async function setup(spec?: QuantizeSpec) {
    setSeed(1);
    const m = await loadHfCheckpoint(dir, { log: quiet });
    m.module.eval();
    const ia3 = injectIa3(m.module, { target_modules: ['c_attn', 'mlp.c_proj'], feedforward_modules: ['mlp.c_proj'] }, { arch: 'gpt2' });
    m.module.freeze();
    m.module.unfreeze((p) => ia3.trains(p));
    if (spec) quantizeModule(m.module, spec);
    return { module: m.module, ia3 };
  }

  const logits = (m: Module) => m.forward(ids, mask) as tf.Tensor;
  const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

  it.each([['int8'], ['nf4']] as const)('%s: trains (loss falls), equals an fp32 twin with the dequantized weights, merges by requantizing', async (type) => {
    const q = await setup({ type });
    const twin = await setup();
    const state = new Map<string, tf.Tensor>();
    for (const [path, p] of q.module.namedParameters()) if (p.quantized) state.set(path, p.dequantize());
    expect(state.size).toBe(4);
    twin.module.loadStateDict(state);
    const trainable = [...q.module.trainableVariables().values()];
    const loss = () => causalLmLoss(logits(q.module), ids, mask);
    const before = tf.tidy(() => loss().dataSync()[0]);
    const opt = tf.train.adam(0.05);
    for (let i = 0; i < 6; i++) tf.tidy(() => void opt.minimize(loss, false, trainable));
    expect(tf.tidy(() => loss().dataSync()[0])).toBeLessThan(before - 0.02);
    // The twin gets the trained vectors: same effective weights, same output.
    twin.module.loadStateDict(new Map([...q.module.trainableVariables()]));
    const a = logits(q.module);
    expect(maxAbs(a, logits(twin.module))).toBeLessThan(1e-4);
    // merge folds the vectors into the quantized weight (quantized again in its format).
    q.ia3.merge();
    expect(q.module.getParameter('transformer.h.0.attn.c_attn.base_layer.weight').quantized?.format).toBe(type);
    const merged = logits(q.module);
    const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
    expect(maxAbs(merged, a) / scale).toBeLessThan(type === 'int8' ? 0.02 : 0.2);
    tf.dispose([a, merged]);
    opt.dispose();
  });
});
