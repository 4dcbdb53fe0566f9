import { causalLmLoss, loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quantizeModule, setSeed, tf, type Module, type QuantizeSpec } from '@leantune/tensor';
import { quietLog as quiet, tempDir } from '@leantune/testing';
import { injectAdapter } from '../src';

// Bottleneck adapters over a base quantized with model.quantize (issue 17).

describe('bottleneck adapters over a quantized base', () => {
  let dir = '';
  const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % 50), [2, 12], 'int32');
  const mask = tf.ones([2, 12], 'int32');
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = tempDir('adapter-quant');
    writeTinyHfCheckpoint('gpt2', dir, { layers: 1, seed: 2, weightRange: 0.05, gpt2Sizes: { embd: 32, heads: 2, positions: 16 } });
  });

  async function setup(spec?: QuantizeSpec) {
    setSeed(1);
    const m = await loadHfCheckpoint(dir, { log: quiet });
    m.module.eval();
    const adapters = injectAdapter(m.module, { config: 'houlsby' }, { arch: 'gpt2' });
    m.module.freeze();
    m.module.unfreeze((p) => adapters.trains(p));
    if (spec) quantizeModule(m.module, spec);
    return { module: m.module, adapters };
  }

  const logits = (m: Module) => m.forward(ids, mask) as tf.Tensor;

  it.each([['int8'], ['nf4']] as const)('%s: the adapters stay fp32, train (loss falls) and match an fp32 twin with the dequantized weights', async (type) => {
    const q = await setup({ type });
    const twin = await setup();
    const state = new Map<string, tf.Tensor>();
    for (const [path, p] of q.module.namedParameters()) if (p.quantized) state.set(path, p.dequantize());
    expect(state.size).toBe(4);
    for (const [path, p] of q.module.namedParameters()) if (q.adapters.trains(path)) expect(p.quantized).toBeUndefined();
    twin.module.loadStateDict(state);
    const trainable = [...q.module.trainableVariables().values()];
    expect(trainable.length).toBeGreaterThan(0);
    const loss = () => causalLmLoss(logits(q.module), ids, mask);
    const before = tf.tidy(() => loss().dataSync()[0]);
    const opt = tf.train.adam(0.05);
    for (let i = 0; i < 6; i++) tf.tidy(() => void opt.minimize(loss, false, trainable));
    expect(tf.tidy(() => loss().dataSync()[0])).toBeLessThan(before - 0.02);
    twin.module.loadStateDict(new Map([...q.module.trainableVariables()]));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(logits(q.module), logits(twin.module)))).dataSync()[0])).toBeLessThan(1e-4);
    opt.dispose();
  });
});
