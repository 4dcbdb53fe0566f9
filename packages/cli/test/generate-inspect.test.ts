import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateText, loadTrainedModel, sampleToken } from '@leantune/cli';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { quantizedBytes, tf, type QuantizeSpec } from '@leantune/tensor';
import { tinyLoadedModel } from '@leantune/testing';
import { Rng } from '@leantune/train';
import { cli, localConfig, fixtures, onlyRun, tempDir, tinyLora } from './helpers';

describe('sampleToken', () => {
  const logits = Float32Array.from([0.1, 2.0, -1, 1.5]);
  it('is the argmax when greedy, with top-k 1, or with a tiny top-p', () => {
    expect(sampleToken(logits, {}, new Rng(1))).toBe(1);
    for (let seed = 0; seed < 20; seed++) {
      expect(sampleToken(logits, { temperature: 5, topK: 1 }, new Rng(seed))).toBe(1);
      expect(sampleToken(logits, { temperature: 5, topP: 1e-6 }, new Rng(seed))).toBe(1);
    }
  });
  it('samples in proportion to softmax(logits / T), only among the top k', () => {
    const rng = new Rng(3);
    const counts = [0, 0];
    for (let i = 0; i < 4000; i++) counts[sampleToken([0, Math.LN2, -50], { temperature: 1 }, rng)]++;
    expect(counts[1] / 4000).toBeCloseTo(2 / 3, 1);
    const seen = new Set(Array.from({ length: 200 }, (_, i) => sampleToken(logits, { temperature: 10, topK: 2 }, new Rng(i))));
    expect([...seen].sort()).toEqual([1, 3]);
  });
});

describe('GPT-2: train a LoRA, generate, merge, generate again', () => {
  const cwd = tempDir('lt-gpt2-');
  const gpt2 = join(cwd, 'gpt2');
  let run = '';
  beforeAll(async () => {
    writeTinyHfCheckpoint('gpt2', gpt2);
    const r = await cli(cwd, ['train', '-c', localConfig(cwd, join(fixtures, 'tiny-gpt2.json')), '--quiet', '--override', JSON.stringify({ model: { name: 'hf', path: gpt2 } })]);
    expect(r.code).toBe(0);
    run = onlyRun(cwd);
  }, 30_000);

  it('greedy decoding picks the argmax of the model\'s logits at each step', async () => {
    const trained = await loadTrainedModel({ run });
    const result = generateText(trained, 'good film', { maxTokens: 5 });
    const tokenizer = (trained.model as unknown as { tokenizer: { tokenizer: { encode(t: string): { ids: number[] } } } }).tokenizer.tokenizer;
    const ids = tokenizer.encode('good film').ids;
    for (let i = 0; i < 5; i++) {
      const next = tf.tidy(() => {
        const logits = trained.model.module.forward(tf.tensor2d([ids], [1, ids.length], 'int32')) as tf.Tensor;
        return tf.argMax(tf.reshape(tf.slice(logits, [0, ids.length - 1, 0], [1, 1, -1]), [-1])).dataSync()[0];
      });
      ids.push(next);
    }
    expect(result.tokens).toEqual(ids.slice(-5));
  });

  it('streams seeded samples to stdout: the same seed gives the same text', async () => {
    const args = ['generate', run, '-p', 'good', '--max-tokens', '6', '--temperature', '1.5', '--top-k', '20', '--top-p', '0.95', '--seed', '4'];
    const a = await cli(cwd, args);
    const b = await cli(cwd, args);
    expect(a.code).toBe(0);
    expect(a.out.startsWith('good')).toBe(true);
    expect(b.out).toBe(a.out);
  });

  it('merges into a Hugging Face folder that the plain loader reads, with the same logits', async () => {
    const m = await cli(cwd, ['merge', run, '-o', 'merged']);
    expect(m.code).toBe(0);
    expect(readdirSync(join(cwd, 'merged')).sort()).toEqual(['config.json', 'leantune-merged.json', 'model.safetensors', 'tokenizer.json']);
    const trained = await loadTrainedModel({ run });
    const plain = await loadHfCheckpoint(join(cwd, 'merged'), { log: { info: () => undefined, warn: () => undefined } });
    const ids = tf.tensor2d([[3, 7, 11, 2]], [1, 4], 'int32');
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.model.module.forward(ids) as tf.Tensor, plain.module.forward(ids) as tf.Tensor))).dataSync()[0]);
    expect(diff).toBeLessThan(1e-5);
    const fromRun = await cli(cwd, ['generate', run, '-p', 'good', '--max-tokens', '6']);
    const fromMerged = await cli(cwd, ['generate', '--model', 'merged', '-p', 'good', '--max-tokens', '6']);
    expect(fromMerged.out).toBe(fromRun.out);
  });

  it('refuses a classifier, pointing to predict', async () => {
    const r = await cli(cwd, ['generate', '-c', tinyLora, '-p', 'x']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('is not a decoder language model');
  });
});

describe('leantune inspect', () => {
  const cwd = tempDir('lt-inspect-');
  it('prints the tree with parameter counts and the targetable names', async () => {
    const r = await cli(cwd, ['inspect', 'tiny-text', '-c', tinyLora, '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    const reference = tinyLoadedModel(['a', 'b']).module;
    expect(d.params).toBe(reference.countParameters().total);
    expect(d.tree.children.map((c: { name: string; params: number }) => [c.name, c.params])).toEqual([...reference.namedChildren()].map(([n, m]) => [n, m.countParameters().total]));
    expect(d.targets).toEqual([{ name: 'dense', type: 'Linear', count: 1 }, { name: 'classifier', type: 'Linear', count: 1 }]);
    expect(d.defaultTargets.lora).toEqual(['dense']);
    const text = await cli(cwd, ['inspect', 'tiny-text', '-c', tinyLora]);
    expect(text.out).toContain('  encoder (TinyEncoder) 272\n    dense (Linear) 272\n');
  });

  it('lists parameter bytes with model.quantize in each format, and the loaded bytes of a model given with quantize', async () => {
    const r = await cli(cwd, ['inspect', 'tiny-text', '-c', tinyLora, '--json']);
    const d = JSON.parse(r.out);
    // tiny-text: encoder.dense [16, 16] and classifier [2, 16] are the Linear weights; their biases stay fp32.
    const rest = 4 * (d.params - 16 * 16 - 2 * 16);
    const expected = (spec: QuantizeSpec) => rest + quantizedBytes(16, 16, spec) + quantizedBytes(2, 16, spec);
    expect(d.bytes.quantizable).toEqual({ weights: 2, elements: 16 * 16 + 2 * 16 });
    expect(d.bytes.loaded).toBe(4 * d.params);
    expect(d.bytes.formats).toEqual({
      fp32: 4 * d.params,
      bf16: expected({ type: 'bf16' }),
      fp16: expected({ type: 'fp16' }),
      int8: expected({ type: 'int8' }),
      nf4: expected({ type: 'nf4' }),
      'nf4+doubleQuant': expected({ type: 'nf4', doubleQuant: true }),
    });
    const q = JSON.parse((await cli(cwd, ['inspect', '{"name": "tiny-text", "quantize": "int8"}', '-c', tinyLora, '--json'])).out);
    expect(q.bytes.loaded).toBe(expected({ type: 'int8' }));
    const text = await cli(cwd, ['inspect', 'tiny-text', '-c', tinyLora]);
    expect(text.out).toMatch(/with model\.quantize, 2 Linear\/Conv1D weights \(288 values\) quantized, the rest fp32:\n {2}fp32 .*\n {2}bf16 /);
  });

  it('reads a Hugging Face folder given as a path', async () => {
    writeTinyHfCheckpoint('gpt2', join(cwd, 'g'));
    const r = await cli(cwd, ['inspect', 'g', '-c', join(fixtures, 'tiny-gpt2.json'), '--json']);
    expect(r.code).toBe(0);
    const d = JSON.parse(r.out);
    expect(d.arch).toBe('gpt2');
    expect(d.targets.map((t: { name: string }) => t.name).sort()).toEqual(['c_attn', 'c_fc', 'c_proj']);
  });

  it('fails clearly on an unknown model', async () => {
    const r = await cli(cwd, ['inspect', 'no-such-model', '-c', tinyLora]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('No model loader recognised model "no-such-model"');
  });
});

