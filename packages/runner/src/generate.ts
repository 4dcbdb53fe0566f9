import { ConfigError, RunError, type GenerateCapability, type TokenizerCapability } from '@leantune/core';
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
  /**
   * Chat: the prompt is the user's message, rendered with the model's chat template and the
   * assistant's turn opened (as apply_chat_template(add_generation_prompt=True)); generation
   * stops at the template's end of turn or eos. Needs a model with a chat template.
   */
  chat?: boolean;
  /** With `chat`, a system message before the user's. */
  system?: string;
  /** Called with each new piece of text as soon as it decodes. */
  onText?: (text: string) => void;
}

export interface GenerateResult {
  prompt: string;
  text: string;
  tokens: number[];
}

/** The model's generate and tokenizer capabilities (model.points), or an error naming what is missing. */
function asCausalLm(trained: TrainedModel): { generate: GenerateCapability; tokenizer: TokenizerCapability } {
  const model = trained.model;
  const generate = model.points?.generate;
  const tokenizer = model.points?.tokenizer;
  if (!generate || !tokenizer) {
    const missing = [generate ? '' : 'generate', tokenizer ? '' : 'tokenizer'].filter(Boolean).join(' and ');
    throw new RunError(`Model "${model.name}" (arch ${model.arch}) offers no ${missing} capability (model.points), so it is not a decoder language model; "generate" needs one such as a GPT-2 checkpoint. For classifiers use "leantune predict".`);
  }
  return { generate, tokenizer };
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
 * Continues `prompt` one token at a time through the model's generate capability (GPT-2:
 * with a KV cache, and with whatever prompt or prefix methods registered). Seeded: the same
 * options give the same text. New text is passed to onText as it decodes, for streaming.
 */
export function generateText(trained: TrainedModel, prompt: string, options: GenerateOptions = {}): GenerateResult {
  const lm = asCausalLm(trained);
  const maxTokens = options.maxTokens ?? 32;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) throw new ConfigError(`--max-tokens must be a positive integer, got ${maxTokens}`);
  if (options.topP !== undefined && !(options.topP > 0 && options.topP <= 1)) throw new ConfigError(`--top-p must be in (0, 1], got ${options.topP}`);
  const rng = new Rng(options.seed ?? 0);
  let promptIds: number[];
  const stopTokens = options.stopToken === undefined ? [] : [options.stopToken];
  if (options.chat) {
    const chat = trained.model.points?.chat;
    if (!chat) throw new ConfigError(`Model "${trained.model.name}" has no chat template (chat_template in tokenizer_config.json, or chat_template.jinja), so --chat cannot render a conversation; add one or drop --chat`);
    promptIds = chat.encodePrompt([...(options.system !== undefined ? [{ role: 'system', content: options.system }] : []), { role: 'user', content: prompt }]);
    stopTokens.push(...chat.stopIds);
  } else {
    if (options.system !== undefined) throw new ConfigError('--system needs --chat (a system message is rendered by the chat template)');
    promptIds = lm.tokenizer.encode(prompt);
  }
  if (!promptIds.length) throw new ConfigError('The prompt encodes to no tokens; give some text.');
  const added: number[] = [];
  let shown = '';
  lm.generate(promptIds, {
    maxTokens,
    stopTokens,
    pick: (logits) => sampleToken(logits, options, rng),
    onToken: (id) => {
      added.push(id);
      // Decode the whole continuation each time: a byte-level token may finish a character only with the next one.
      const text = lm.tokenizer.decode(added);
      if (text.length > shown.length && !text.endsWith('\uFFFD')) {
        options.onText?.(text.slice(shown.length));
        shown = text;
      }
    },
  });
  const text = lm.tokenizer.decode(added);
  if (text.length > shown.length) options.onText?.(text.slice(shown.length));
  return { prompt, text, tokens: added };
}
