import { generateText, sampleToken, type GenerateOptions } from '@leantune/cli';
import { loadHfCheckpoint, writeTinyHfCheckpoint } from '@leantune/plugin-hf';
import { tf } from '@leantune/tensor';
import { Rng } from '@leantune/train';
import { join } from 'node:path';
import { tempDir } from './helpers';

// Seeded tests of temperature, top-k and top-p sampling. Each statistical check draws a
// fixed, seeded number of samples and allows 5 standard errors of a proportion, so it is
// deterministic (same seeds, same counts) and would fail for a distribution that is off by
// more than the allowance.

/** Counts of N draws from one seeded stream. */
function draws(logits: number[], options: Pick<GenerateOptions, 'temperature' | 'topK' | 'topP'>, n: number, seed = 11): number[] {
  const rng = new Rng(seed);
  const counts = new Array<number>(logits.length).fill(0);
  for (let i = 0; i < n; i++) counts[sampleToken(logits, options, rng)]++;
  return counts;
}

/** softmax(logits / T) restricted to `kept` (renormalised), in float64. */
function expected(logits: number[], temperature: number, kept: number[] = logits.map((_, i) => i)): number[] {
  const max = Math.max(...kept.map((i) => logits[i]));
  const w = logits.map((l, i) => (kept.includes(i) ? Math.exp((l - max) / temperature) : 0));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

/** Every observed share within 5 standard errors of its expected probability. */
function expectShares(counts: number[], probabilities: number[]): void {
  const n = counts.reduce((a, b) => a + b, 0);
  counts.forEach((c, i) => {
    const p = probabilities[i];
    const allowance = 5 * Math.sqrt((p * (1 - p)) / n) + 1e-12;
    expect({ token: i, share: c / n, within: Math.abs(c / n - p) <= allowance }).toEqual({ token: i, share: c / n, within: true });
  });
}

// Probabilities 0.5, 0.25, 0.15, 0.07, 0.03 at temperature 1.
const LOGITS = [0.5, 0.25, 0.15, 0.07, 0.03].map(Math.log);
const ARGMAX = 0;

describe('sampleToken, seeded', () => {
  it('gives the same tokens for the same seed, and other tokens for another seed', () => {
    const stream = (seed: number) => {
      const rng = new Rng(seed);
      return Array.from({ length: 64 }, () => sampleToken(LOGITS, { temperature: 1.3, topK: 4, topP: 0.95 }, rng));
    };
    expect(stream(5)).toEqual(stream(5));
    expect(stream(6)).not.toEqual(stream(5));
  });

  it('temperature 0 (the default), and temperatures towards 0, are greedy', () => {
    expect(sampleToken(LOGITS, {}, new Rng(1))).toBe(ARGMAX);
    expect(sampleToken(LOGITS, { temperature: 0, topK: 3, topP: 0.5 }, new Rng(1))).toBe(ARGMAX);
    for (const temperature of [1e-3, 1e-6]) {
      expect(draws(LOGITS, { temperature }, 2000)).toEqual([2000, 0, 0, 0, 0]);
    }
    // Still random a little above 0: the next token's weight is (0.25/0.5)^(1/T).
    const warm = draws(LOGITS, { temperature: 0.2 }, 20_000);
    expectShares(warm, expected(LOGITS, 0.2));
    expect(warm[1]).toBeGreaterThan(0);
  });

  it('samples softmax(logits / T) at T = 1, 0.5 and 2', () => {
    for (const temperature of [1, 0.5, 2]) expectShares(draws(LOGITS, { temperature }, 20_000), expected(LOGITS, temperature));
    // Higher temperature flattens: the least likely token is drawn more often at T = 2 than at T = 0.5.
    expect(draws(LOGITS, { temperature: 2 }, 20_000)[4]).toBeGreaterThan(draws(LOGITS, { temperature: 0.5 }, 20_000)[4]);
  });

  it('top-k 1 is greedy at any temperature; top-k k draws only the k most likely tokens, each of them, in proportion', () => {
    expect(draws(LOGITS, { temperature: 5, topK: 1 }, 2000)).toEqual([2000, 0, 0, 0, 0]);
    for (const k of [2, 3]) {
      const counts = draws(LOGITS, { temperature: 1.5, topK: k }, 20_000);
      const top = [0, 1, 2].slice(0, k);
      expect(counts.map((c, i) => (top.includes(i) ? c > 0 : c === 0))).toEqual([true, true, true, true, true]);
      expectShares(counts, expected(LOGITS, 1.5, top));
    }
    // Order comes from the logits, not the position: the top 2 of a shuffled row.
    const shuffled = [LOGITS[3], LOGITS[1], LOGITS[4], LOGITS[0], LOGITS[2]];
    expect(draws(shuffled, { temperature: 1, topK: 2 }, 5000).map((c) => c > 0)).toEqual([false, true, false, true, false]);
  });

  it('top-p keeps the smallest set of most likely tokens whose probability reaches p, renormalised', () => {
    // A tiny p keeps only the argmax, whatever the temperature.
    expect(draws(LOGITS, { temperature: 5, topP: 1e-6 }, 2000)).toEqual([2000, 0, 0, 0, 0]);
    // Cumulative probabilities at T = 1: 0.5, 0.75, 0.9, 0.97, 1.
    const nucleus: Array<[number, number[]]> = [[0.45, [0]], [0.6, [0, 1]], [0.8, [0, 1, 2]], [0.95, [0, 1, 2, 3]], [0.99, [0, 1, 2, 3, 4]]];
    for (const [topP, kept] of nucleus) {
      const counts = draws(LOGITS, { temperature: 1, topP }, 20_000);
      expect({ topP, drawn: counts.map((c) => c > 0) }).toEqual({ topP, drawn: LOGITS.map((_, i) => kept.includes(i)) });
      expectShares(counts, expected(LOGITS, 1, kept));
    }
    // With top-k too, p applies to the k kept: top-2 renormalised is 2/3, 1/3, so p 0.6 keeps one.
    expect(draws(LOGITS, { temperature: 1, topK: 2, topP: 0.6 }, 2000)).toEqual([2000, 0, 0, 0, 0]);
    expect(draws(LOGITS, { temperature: 1, topK: 2, topP: 0.7 }, 2000).map((c) => c > 0)).toEqual([true, true, false, false, false]);
  });
});

describe('generateText on a tiny GPT-2, seeded', () => {
  const dir = join(tempDir('lt-sampling-'), 'gpt2');
  let lm: Parameters<typeof generateText>[0];
  beforeAll(async () => {
    await tf.setBackend('cpu');
    writeTinyHfCheckpoint('gpt2', dir);
    const model = await loadHfCheckpoint(dir, { log: { info: () => undefined, warn: () => undefined } });
    // generateText reads only the loaded model of a trained one.
    lm = { model } as unknown as Parameters<typeof generateText>[0];
  });
  const tokens = (options: GenerateOptions) => generateText(lm, 'good film', { maxTokens: 8, ...options }).tokens;

  it('gives the same tokens for the same seed and options, and other tokens for other seeds', () => {
    const options = { temperature: 1.5, topK: 20, topP: 0.95 };
    const first = tokens({ ...options, seed: 3 });
    expect(first).toHaveLength(8);
    expect(tokens({ ...options, seed: 3 })).toEqual(first);
    const others = [4, 5, 6, 7].map((seed) => tokens({ ...options, seed }).join(' '));
    expect(new Set([first.join(' '), ...others]).size).toBeGreaterThan(1);
  });

  it('equals greedy decoding with top-k 1, a tiny top-p, or a temperature near 0, for any seed', () => {
    const greedy = tokens({});
    expect(new Set(greedy).size).toBeGreaterThan(1);
    for (const seed of [1, 2, 3]) {
      expect(tokens({ temperature: 2, topK: 1, seed })).toEqual(greedy);
      expect(tokens({ temperature: 2, topP: 1e-9, seed })).toEqual(greedy);
      expect(tokens({ temperature: 1e-6, seed })).toEqual(greedy);
    }
    // At temperature 2 with no filter the same seeds do leave the greedy path.
    expect([1, 2, 3].some((seed) => tokens({ temperature: 2, seed }).join(' ') !== greedy.join(' '))).toBe(true);
  });
});
