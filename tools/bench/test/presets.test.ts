import { PRESETS, describePreset, hashStream, presetJob } from '../src/presets';
import { runJob } from '../src/worker';

describe('bench presets', () => {
  it('builds each preset with the HF shapes and applies overrides', () => {
    const gpt2 = presetJob('gpt2-small');
    expect(gpt2.config).toMatchObject({ n_layer: 12, n_embd: 768, n_head: 12, vocab_size: 50257, n_positions: 1024, activation_function: 'gelu_new' });
    expect([gpt2.seq, PRESETS['gpt2-small'].batch]).toEqual([128, 4]);
    expect(presetJob('bert-base').config).toMatchObject({ hidden_size: 768, intermediate_size: 3072, vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2, hidden_act: 'gelu' });
    expect(presetJob('vit-b16').seq).toBe(197);
    const tiny = presetJob('vit-b16', { layers: 1, dModel: 32, image: 32 });
    expect(tiny.config).toMatchObject({ num_hidden_layers: 1, hidden_size: 32, num_attention_heads: 1, intermediate_size: 128 });
    expect(tiny.seq).toBe(5);
    expect(describePreset(tiny, 2)).toContain('1 layers, d 32');
    expect(presetJob('smollm2-135m').config).toMatchObject({ num_hidden_layers: 30, hidden_size: 576, num_attention_heads: 9, num_key_value_heads: 3, intermediate_size: 1536, vocab_size: 49152, tie_word_embeddings: true });
    // Narrower: the key/value heads stay a divisor of the heads.
    expect(presetJob('smollm2-135m', { dModel: 128 }).config).toMatchObject({ num_attention_heads: 2, num_key_value_heads: 2, intermediate_size: 512 });
    expect(() => presetJob('llama')).toThrow(/gpt2-small, smollm2-135m, bert-base, vit-b16/);
  });

  it('draws the same numbers as the PyTorch peer (peer/common.py hash_stream)', () => {
    expect(Array.from(hashStream(2, 7, 4))).toEqual([4033833640, 1951546541, 3381219681, 1928106962]);
    expect(Array.from(hashStream(1, 123456, 3))).toEqual([345543852, 1826100692, 3831634521]);
  });

  const small = { layers: 1, dModel: 32, heads: 2, vocab: 100, seq: 16, image: 32 };
  const cases: Array<[string, number, number]> = [
    // LoRA r 8 on c_attn: 32·8 + 8·96.
    ['gpt2-small', Math.log(100), 32 * 8 + 8 * 96],
    // query and value: 2 · (32·8 + 8·32), plus the classifier 32·2 + 2.
    ['bert-base', Math.log(2), 2 * (32 * 8 + 8 * 32) + 66],
    // q_proj and v_proj (2 key/value heads of 16 = 32 wide): 2 · (32·8 + 8·32).
    ['smollm2-135m', Math.log(100), 2 * (32 * 8 + 8 * 32)],
    ['vit-b16', Math.log(10), 2 * (32 * 8 + 8 * 32) + 330],
  ];
  it.each(cases)('%s: a 1-layer tiny model trains 2 steps, full and LoRA, with loss near ln(classes)', async (name, lnClasses, loraTrainable) => {
    const base = { backend: 'cpu', preset: presetJob(name, small), batch: 2, warmupSteps: 0, steps: 2, maxSeconds: 30 };
    const lora = await runJob({ ...base, method: 'lora' });
    expect(lora.trainable).toBe(loraTrainable);
    const full = await runJob({ ...base, method: 'full' });
    expect(full.trainable).toBe(full.total);
    for (const r of [lora, full]) {
      expect(Number.isFinite(r.lastLoss)).toBe(true);
      expect(Math.abs(r.firstLoss - lnClasses)).toBeLessThan(0.5 * lnClasses);
      expect(r.samplesPerSec).toBeGreaterThan(0);
    }
  }, 20000);
});
