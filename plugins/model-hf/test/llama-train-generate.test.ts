/**
 * Llama-family decoders (issue 14), the rest of "done": generation with and without the KV
 * cache gives identical tokens (also past max_position_embeddings, with virtual tokens and
 * grouped-query key/value prefixes), greedy tokens are the reference's argmax, LoRA with the
 * default targets (q/k/v/o/gate/up/down_proj) lowers the loss, and through the CLI a Hub
 * folder (sharded or not) trains, generates, merges to a Hub-layout folder that loads again
 * with the trained model's logits and text.
 */
import fs from 'node:fs';
import path from 'node:path';
import { main } from '@leantune/cli';
import { LORA_DEFAULT_TARGETS, injectLora } from '@leantune/plugin-lora';
import { loadTrainedModel } from '@leantune/runner';
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel, type TinyArch } from '../src';
import { llamaForward } from './reference/llama';
import { readF32Safetensors } from './reference/plain';
import { record, recordingLogger, tempDir } from './helpers';

const argmax = (logits: ArrayLike<number>) => Array.prototype.indexOf.call(logits, Math.max(...Array.from(logits))) as number;
const TINY_DATA = path.resolve(__dirname, '../../../packages/cli/test/fixtures/tiny-data.js');

type Decoder = NonNullable<Parameters<typeof writeTinyHfCheckpoint>[2]>['decoder'];
const FAMILIES: Array<[TinyArch, Decoder]> = [
  ['llama', { kvHeads: 2, tied: true }],
  ['qwen2', { kvHeads: 2, tied: false }],
  ['mistral', { kvHeads: 2, tied: false, slidingWindow: 5 }],
];

async function tiny(arch: TinyArch, decoder: Decoder, seed: number): Promise<{ dir: string; m: HfLoadedModel }> {
  const dir = tempDir(`gen-${arch}`);
  writeTinyHfCheckpoint(arch, dir, { layers: 2, seed, decoder: { ...decoder, positions: 16 } });
  return { dir, m: await loadHfCheckpoint(dir, { log: recordingLogger() }) };
}

function generate(m: HfLoadedModel, prompt: number[], maxTokens: number, cache: boolean): number[] {
  return m.points!.generate!(prompt, { maxTokens, pick: argmax, cache });
}

describe.each(FAMILIES)('%s', (arch, decoder) => {
  test('cache and no cache give identical tokens (plain, virtual tokens, GQA prefixes, past max_position_embeddings); greedy tokens are the reference argmax', async () => {
    const { dir, m } = await tiny(arch, decoder, 81);
    const positions = m.maxTokens!;
    expect(positions).toBe(16);
    const prompt = m.points!.tokenizer!.encode('the good film');
    // The first three greedy tokens, from the plain-JS model's logits at the last position.
    const W = readF32Safetensors(path.join(dir, 'model.safetensors'));
    const ref = { layers: 2, heads: 4, kvHeads: 2, headDim: 8, eps: 1e-6, theta: 10000, qkvBias: arch === 'qwen2', tied: decoder!.tied!, window: decoder!.slidingWindow ?? undefined };
    const ids = [...prompt];
    for (let i = 0; i < 3; i++) ids.push(argmax(llamaForward(W, ids, ref).logits[ids.length - 1]));
    expect(generate(m, prompt, 3, true)).toEqual(ids.slice(prompt.length));

    const e = m.points!.inputEmbeddings!;
    const a = m.points!.attentionPrefix!;
    expect(a.shape(0)).toEqual({ heads: 2, headDim: 8 }); // one prefix per key/value head
    const virtual = tf.randomNormal([3, e.dim], 0, 1, 'float32', 5);
    const prefixes = Array.from({ length: a.layers }, (_, l) => ({ key: tf.randomNormal([2, 2, 8], 0, 1, 'float32', 10 + l), value: tf.randomNormal([2, 2, 8], 0, 1, 'float32', 20 + l) }));
    const cases: Array<[string, () => Array<() => void>]> = [
      ['plain', () => []],
      ['virtual', () => [e.addVirtualTokens(() => virtual)]],
      ['prefix', () => prefixes.map((p, l) => a.addPrefix(l, () => p))],
    ];
    const seen: Record<string, number[]> = {};
    for (const [name, attach] of cases) {
      const detach = attach();
      const steps = positions + 5 - prompt.length;
      const cached = generate(m, prompt, steps, true);
      expect([name, cached]).toEqual([name, generate(m, prompt, steps, false)]);
      expect(cached).toHaveLength(steps);
      seen[name] = cached;
      detach.forEach((d) => d());
    }
    // Virtual tokens and prefixes change what is generated (they reach the attention).
    expect(seen.virtual).not.toEqual(seen.plain);
    expect(seen.prefix).not.toEqual(seen.plain);
    tf.dispose([virtual, ...prefixes.flatMap((p) => [p.key, p.value])]);
    m.module.dispose();
  });

  test('LoRA with the default targets wraps q/k/v/o/gate/up/down_proj of every layer and Adam steps lower the loss', async () => {
    const { m } = await tiny(arch, decoder, 82);
    expect(LORA_DEFAULT_TARGETS[arch]).toEqual(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']);
    const lora = injectLora(m.module, { r: 4, lora_alpha: 8 }, { arch: m.arch, defaultTargets: LORA_DEFAULT_TARGETS[arch] });
    const wrapped = lora.layers().map(([p]) => p).sort();
    const want = [0, 1].flatMap((l) => ['self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'mlp.gate_proj', 'mlp.up_proj', 'mlp.down_proj'].map((n) => `model.layers.${l}.${n}`)).sort();
    expect(wrapped).toEqual(want);
    const batch = m.encode!(['good film', 'bad day', 'hello world', 'the dog'].map((text, i) => record(`r${i}`, { text })));
    const vars = [...m.module.trainableVariables().entries()];
    expect(vars.every(([n]) => /lora_[AB]/.test(n))).toBe(true);
    expect(vars).toHaveLength(want.length * 2);
    const lossOf = () => m.loss!(batch, true);
    const first = m.loss!(batch, false).dataSync()[0];
    const optimizer = tf.train.adam(0.01);
    for (let step = 0; step < 10; step++) {
      const { value, grads } = tf.variableGrads(lossOf, vars.map(([, v]) => v));
      if (step === 0) expect(Object.keys(grads)).toHaveLength(vars.length);
      optimizer.applyGradients(grads);
      tf.dispose([value, ...Object.values(grads)]);
    }
    const last = m.loss!(batch, false).dataSync()[0];
    expect(last).toBeLessThan(first - 0.01);
    optimizer.dispose();
    m.module.dispose();
  });
});

async function cli(cwd: string, args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), cwd, readStdin: async () => new Uint8Array() });
  return { code, out, err };
}

test.each([
  ['llama', { kvHeads: 2, tied: false }, 3000],
  ['llama', { kvHeads: 2, tied: true, ropeScaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 8, original_max_position_embeddings: 256 } }, undefined],
  ['qwen2', { kvHeads: 2, tied: true }, 3000],
  ['mistral', { kvHeads: 1, tied: false, slidingWindow: 4 }, undefined],
] as Array<[TinyArch, Decoder, number | undefined]>)('%s %j (shards of %s bytes): the CLI trains a LoRA, generates, merges to a Hub folder that loads with the same logits and text', async (arch, decoder, maxShardBytes) => {
  const cwd = tempDir(`rt-${arch}`);
  const ckpt = path.join(cwd, arch);
  writeTinyHfCheckpoint(arch, ckpt, { layers: 2, decoder, maxShardBytes });
  expect(fs.existsSync(path.join(ckpt, 'model.safetensors'))).toBe(maxShardBytes === undefined);
  const config = path.join(cwd, 'config.json');
  fs.writeFileSync(config, JSON.stringify({
    name: arch, plugins: ['hf', { name: TINY_DATA, allowOutside: true }, 'lora'], model: { name: 'hf', path: ckpt }, methods: { lora: { r: 2, lora_alpha: 4 } },
    data: { name: 'tiny-sentiment', count: 16 }, train: { epochs: 1, batchSize: 8, learningRate: 0.05 }, runtime: { backend: 'cpu', seed: 3 }, output: { dir: 'runs' },
  }));
  const t = await cli(cwd, ['train', '-c', config, '--quiet']);
  expect(t.err.split('\n').filter((l) => l.startsWith('error'))).toEqual([]);
  expect(t.code).toBe(0);
  const run = path.join(cwd, 'runs', fs.readdirSync(path.join(cwd, 'runs'))[0]);
  const adapter = JSON.parse(fs.readFileSync(path.join(run, 'adapters', 'lora', 'adapter_config.json'), 'utf8'));
  expect([...adapter.target_modules].sort()).toEqual(['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
  const fromRun = await cli(cwd, ['generate', run, '-p', 'good', '--max-tokens', '5']);
  expect(fromRun.code).toBe(0);
  expect((await cli(cwd, ['merge', run, '-o', 'merged'])).code).toBe(0);
  const mergedDir = path.join(cwd, 'merged');
  expect(fs.readdirSync(mergedDir)).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json']));
  // Hub layout: transformers' keys, lm_head.weight only when untied, no LoRA leftovers.
  const names = [...readF32Safetensors(path.join(mergedDir, 'model.safetensors')).keys()];
  expect(names).toContain('model.layers.1.mlp.down_proj.weight');
  expect(names.includes('lm_head.weight')).toBe(!decoder!.tied);
  expect(names.filter((n) => /lora|base_layer/.test(n))).toEqual([]);
  const trained = await loadTrainedModel({ run });
  const merged = await loadHfCheckpoint(mergedDir, { log: recordingLogger() });
  expect(merged.freshParameters).toEqual([]);
  const ids = tf.tensor2d([[3, 7, 11, 2, 40, 5]], [1, 6], 'int32');
  const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(trained.model.module.forward(ids) as tf.Tensor, merged.module.forward(ids) as tf.Tensor))).dataSync()[0]);
  expect(diff).toBeLessThan(1e-5);
  // LoRA moved the weights: the merged model is not the original.
  const original = await loadHfCheckpoint(ckpt, { log: recordingLogger() });
  expect(tf.tidy(() => tf.max(tf.abs(tf.sub(original.module.forward(ids) as tf.Tensor, merged.module.forward(ids) as tf.Tensor))).dataSync()[0])).toBeGreaterThan(1e-4);
  const fromMerged = await cli(cwd, ['generate', '--model', 'merged', '-p', 'good', '--max-tokens', '5']);
  expect(fromMerged.code).toBe(0);
  expect(fromMerged.out).toBe(fromRun.out);
  ids.dispose();
}, 120_000);
