import { causalLmLoss, loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { injectAdapter } from '@leantune/plugin-adapter';
import { injectIa3 } from '@leantune/plugin-ia3';
import { dequantizedStateDict, quantizeModule, setSeed, tf, type Module, type QuantizeSpec } from '@leantune/tensor';
import { quietLog as quiet, tempDir } from '@leantune/testing';

// IA3 and bottleneck adapters over a base quantized with model.quantize (issue 17); LoRA's
// own cases are in plugins/method-lora/test/qlora.test.ts.

interface Handle {
  trains(path: string): boolean;
  merge?(): void;
}

const METHODS: Array<[string, (m: Module) => Handle]> = [
  ['ia3', (m) => injectIa3(m, { target_modules: ['c_attn', 'mlp.c_proj'], feedforward_modules: ['mlp.c_proj'] }, { arch: 'gpt2' })],
  ['bottleneck adapter (houlsby)', (m) => injectAdapter(m, { config: 'houlsby' }, { arch: 'gpt2' })],
];

describe.each(METHODS)('%s over a quantized base', (_name, inject) => {
  let dir = '';
  const ids = tf.tensor2d(Array.from({ length: 24 }, (_, i) => (i * 7 + 3) % 50), [2, 12], 'int32');
  const mask = tf.ones([2, 12], 'int32');
  beforeAll(async () => {
    await tf.setBackend('cpu');
    dir = tempDir('qlora-methods');
    writeTinyHfCheckpoint('gpt2', dir, { layers: 1, seed: 2, weightRange: 0.05, gpt2Sizes: { embd: 32, heads: 2, positions: 16 } });
  });

  async function setup(spec?: QuantizeSpec) {
    setSeed(1);
    const m = await loadHfCheckpoint(dir, { log: quiet });
    m.module.eval();
    const handle = inject(m.module);
    m.module.freeze();
    m.module.unfreeze((p) => handle.trains(p));
    if (spec) quantizeModule(m.module, spec);
    return { module: m.module, handle };
  }

  const logits = (m: Module) => m.forward(ids, mask) as tf.Tensor;
  const maxAbs = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);

  it.each([['int8'], ['nf4']] as const)('%s: the method\'s parameters stay fp32, train (loss falls), and match an fp32 twin holding the dequantized weights', async (type) => {
    const q = await setup({ type });
    const twin = await setup();
    const state = dequantizedStateDict(q.module);
    expect(state.size).toBe(4);
    for (const [path, p] of q.module.namedParameters()) if (q.handle.trains(path)) expect(p.quantized).toBeUndefined();
    twin.module.loadStateDict(state);
    tf.dispose([...state.values()]);
    const trainable = [...q.module.trainableVariables().values()];
    expect(trainable.length).toBeGreaterThan(0);
    const loss = () => causalLmLoss(logits(q.module), ids, mask);
    const before = tf.tidy(() => loss().dataSync()[0]);
    const opt = tf.train.adam(0.05);
    for (let i = 0; i < 6; i++) tf.tidy(() => void opt.minimize(loss, false, trainable));
    expect(tf.tidy(() => loss().dataSync()[0])).toBeLessThan(before - 0.02);
    opt.dispose();
    // The twin gets the trained parameters: same effective weights, same output.
    twin.module.loadStateDict(new Map([...q.module.trainableVariables()]));
    const a = logits(q.module);
    expect(maxAbs(a, logits(twin.module))).toBeLessThan(1e-4);
    // A merge (IA3) folds into the quantized weight, quantized again in its format.
    if (q.handle.merge) {
      q.handle.merge();
      expect(q.module.getParameter('transformer.h.0.attn.c_attn.base_layer.weight').quantized?.format).toBe(type);
      const scale = tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
      expect(maxAbs(logits(q.module), a) / scale).toBeLessThan(type === 'int8' ? 0.02 : 0.2);
    }
    a.dispose();
  });
});
