/**
 * GPT-2's generate capability: with a virtual-token prompt, with key/value prefixes, and
 * with both, the KV cache gives exactly the tokens of recomputing the whole context, also
 * past n_positions; a virtual prompt equal to real tokens' embeddings generates what those
 * tokens as a prompt prefix generate.
 */
import { tf } from '@leantune/tensor';
import { loadHfCheckpoint, writeTinyHfCheckpoint, type HfLoadedModel } from '../src';
import { recordingLogger, tempDir } from './helpers';

const argmax = (logits: Float32Array) => logits.indexOf(Math.max(...logits));

async function gpt2(): Promise<HfLoadedModel> {
  const dir = tempDir('generate');
  writeTinyHfCheckpoint('gpt2', dir, { layers: 2, seed: 51 });
  return loadHfCheckpoint(dir, { log: recordingLogger() });
}

function generate(m: HfLoadedModel, prompt: number[], maxTokens: number, cache: boolean): number[] {
  return m.points!.generate!(prompt, { maxTokens, pick: argmax, cache });
}

function attachPrefix(m: HfLoadedModel, length: number) {
  const a = m.points!.attentionPrefix!;
  const offs = Array.from({ length: a.layers }, (_, l) => {
    const { heads, headDim } = a.shape(l);
    const key = tf.randomNormal([heads, length, headDim], 0, 1, 'float32', 10 + l);
    const value = tf.randomNormal([heads, length, headDim], 0, 1, 'float32', 20 + l);
    return a.addPrefix(l, () => ({ key, value }));
  });
  return () => offs.forEach((d) => d());
}

test('cache and no cache give the same tokens: plain, with a virtual prompt, with prefixes, with both, and past n_positions', async () => {
  const m = await gpt2();
  const positions = m.maxTokens!;
  const prompt = m.points!.tokenizer!.encode('the good film');
  const e = m.points!.inputEmbeddings!;
  const virtual = tf.randomNormal([3, e.dim], 0, 1, 'float32', 5);
  const seen: Record<string, number[]> = {};
  const cases: Array<[string, () => () => void]> = [
    ['plain', () => () => undefined],
    ['virtual', () => e.addVirtualTokens(() => virtual)],
    ['prefix', () => attachPrefix(m, 2)],
    ['both', () => {
      const a = e.addVirtualTokens(() => virtual);
      const b = attachPrefix(m, 2);
      return () => (a(), b());
    }],
  ];
  for (const [name, attach] of cases) {
    const detach = attach();
    // Long enough to run past n_positions, where both restart from the last tokens that fit.
    const steps = positions + 5 - prompt.length;
    const cached = generate(m, prompt, steps, true);
    const recomputed = generate(m, prompt, steps, false);
    expect([name, cached]).toEqual([name, recomputed]);
    expect(cached).toHaveLength(steps);
    seen[name] = cached;
    detach();
  }
  // The prompt and the prefixes steer generation: not every case gives the plain tokens.
  expect(new Set(Object.values(seen).map((t) => t.join(','))).size).toBeGreaterThan(1);
});

test('a virtual prompt equal to the embeddings of real tokens generates what those tokens before the prompt generate', async () => {
  const m = await gpt2();
  const tok = m.points!.tokenizer!;
  const soft = tok.encode('a day');
  const prompt = tok.encode('the film');
  const asTokens = generate(m, [...soft, ...prompt], 6, true);
  const e = m.points!.inputEmbeddings!;
  const off = e.addVirtualTokens(() => e.vocabulary!.embed(soft));
  expect(generate(m, prompt, 6, true)).toEqual(asTokens);
  expect(generate(m, prompt, 6, false)).toEqual(asTokens);
  off();
  expect(generate(m, prompt, 6, true)).toEqual(generate(m, prompt, 6, false));
});

test('stopTokens end generation before adding it; onToken sees each id; no tensor leaks', async () => {
  const m = await gpt2();
  const prompt = m.points!.tokenizer!.encode('hello');
  const all = generate(m, prompt, 5, true);
  const before = tf.memory().numTensors;
  const seen: number[] = [];
  const cut = m.points!.generate!(prompt, { maxTokens: 5, pick: argmax, stopTokens: [all[2]], onToken: (id) => void seen.push(id) });
  expect(cut).toEqual(all.slice(0, all.indexOf(all[2])));
  expect(seen).toEqual(cut);
  expect(tf.memory().numTensors).toBe(before);
});

test('with the cache, each step after the first runs only the new token', async () => {
  const m = await gpt2();
  const prompt = m.points!.tokenizer!.encode('the good film');
  const widths: number[] = [];
  const forward = m.module.forward.bind(m.module);
  m.module.forward = (ids: tf.Tensor, ...rest: unknown[]) => (widths.push(ids.shape[1]!), forward(ids, ...rest));
  generate(m, prompt, 4, true);
  expect(widths).toEqual([prompt.length, 1, 1, 1]);
  widths.length = 0;
  generate(m, prompt, 4, false);
  expect(widths).toEqual([0, 1, 2, 3].map((k) => prompt.length + k));
});
