import { ConfigError, RunError } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { Rng } from '@leantune/train';
import type { TrainedModel } from './restore';

export interface GenerateOptions {
  /** Tokens to add (default 32). */
  maxTokens?: number;
  /** 0 (default) is greedy; above 0 samples from softmax(logits / temperature). */
  temperature?: number;
  /** Keep only the k most probable tokens before sampling (0: all). */
  topK?: number;
  /** Keep the smallest set of tokens whose probability reaches p (1: all). */
  topP?: number;
  seed?: number;
  /** Stop at this token id (e.g. GPT-2's <|endoftext|>, 50256); default none. */
  stopToken?: number;
  /** Called with each new piece of text as soon as it decodes. */
  onText?: (text: string) => void;
}

export interface GenerateResult {
  prompt: string;
  text: string;
  tokens: number[];
}

/** What a causal language model loader provides: a tokenizer and logits from forward(ids, mask). */
interface CausalLm {
  tokenizer: { tokenizer: { encode(text: string): { ids: number[] }; decode(ids: number[]): string } };
  maxTokens?: number;
}

function asCausalLm(trained: TrainedModel): CausalLm & { forward(ids: tf.Tensor): tf.Tensor } {
  const model = trained.model as typeof trained.model & Partial<CausalLm>;
  if (!model.tokenizer?.tokenizer || model.labels) {
    throw new RunError(`Model "${model.name}" (arch ${model.arch}) is not a decoder language model; "generate" needs one such as a GPT-2 checkpoint. For classifiers use "leantune predict".`);
  }
  return { tokenizer: model.tokenizer, maxTokens: model.maxTokens, forward: (ids) => model.module.forward(ids) as tf.Tensor };
}

/** Picks the next token from one row of logits: greedy, or temperature / top-k / top-p sampling. */
export function sampleToken(logits: Float32Array | number[], options: Pick<GenerateOptions, 'temperature' | 'topK' | 'topP'>, rng: Rng): number {
  const temperature = options.temperature ?? 0;
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  if (temperature <= 0) return best;
  const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  const k = options.topK && options.topK > 0 ? Math.min(options.topK, order.length) : order.length;
  let kept = order.slice(0, k);
  const weights = kept.map((i) => Math.exp((logits[i] - logits[best]) / temperature));
  let total = weights.reduce((a, b) => a + b, 0);
  const topP = options.topP ?? 1;
  if (topP < 1) {
    let mass = 0;
    let n = 0;
    while (n < kept.length && mass < topP * total) mass += weights[n++];
    kept = kept.slice(0, Math.max(1, n));
    weights.length = kept.length;
    total = weights.reduce((a, b) => a + b, 0);
  }
  let u = rng.next() * total;
  for (let i = 0; i < kept.length; i++) {
    u -= weights[i];
    if (u <= 0) return kept[i];
  }
  return kept[kept.length - 1];
}

/**
 * Continues `prompt` one token at a time (no KV cache: each step runs the whole context,
 * which is fine for the small models this runs on a CPU). Seeded: the same options give
 * the same text. New text is passed to onText as it decodes, for streaming.
 */
export function generateText(trained: TrainedModel, prompt: string, options: GenerateOptions = {}): GenerateResult {
  const lm = asCausalLm(trained);
  const maxTokens = options.maxTokens ?? 32;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError(`--max-tokens must be a positive integer, got ${maxTokens}`);
  if (options.topP !== undefined && !(options.topP > 0 && options.topP <= 1)) throw new ConfigError(`--top-p must be in (0, 1], got ${options.topP}`);
  const rng = new Rng(options.seed ?? 0);
  const promptIds = lm.tokenizer.tokenizer.encode(prompt).ids;
  if (!promptIds.length) throw new ConfigError('The prompt encodes to no tokens; give some text.');
  const ids = [...promptIds];
  const window = lm.maxTokens ?? 1024;
  trained.model.module.eval();
  let shown = '';
  for (let n = 0; n < maxTokens; n++) {
    const context = ids.slice(-window);
    const row = tf.tidy(() => {
      const logits = lm.forward(tf.tensor2d([context], [1, context.length], 'int32'));
      return tf.squeeze(tf.slice(logits, [0, context.length - 1, 0], [1, 1, -1])).dataSync() as Float32Array;
    });
    const next = sampleToken(row, options, rng);
    if (next === options.stopToken) break;
    ids.push(next);
    // Decode the whole continuation each time: a byte-level token may finish a character only with the next one.
    const text = lm.tokenizer.tokenizer.decode(ids.slice(promptIds.length));
    if (text.length > shown.length && !text.endsWith('\uFFFD')) {
      options.onText?.(text.slice(shown.length));
      shown = text;
    }
  }
  const text = lm.tokenizer.tokenizer.decode(ids.slice(promptIds.length));
  if (text.length > shown.length) options.onText?.(text.slice(shown.length));
  return { prompt, text, tokens: ids.slice(promptIds.length) };
}
