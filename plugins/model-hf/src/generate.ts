import type { GenerateCapability } from '@leantune/core';
import { tf } from '@leantune/tensor';
import { KvCache } from './attention';

/** A causal LM whose forward takes a KV cache (GPT2LMHeadModel, LlamaForCausalLM, …). */
export interface CachedCausalLm {
  eval(): void;
  /** Logits [1, s, vocab] of one unpadded row; with `cache`, the row follows its positions and is appended to it. */
  forward(inputIds: tf.Tensor, attentionMask: undefined, cache?: KvCache): tf.Tensor;
}

/**
 * Greedy/sampled continuation (the caller's `pick`), with the registered virtual tokens and
 * prefixes. With the cache (default) each step runs only the new token; without, it runs
 * the whole context. Past `positions` (the config's `positionsKey`) both keep the last
 * tokens that fit (after the virtual ones) and start again from them, so both give the
 * same tokens.
 */
export function causalGenerate(module: CachedCausalLm, positionsKey: string, positions: number, virtualTokens: () => number): GenerateCapability {
  return (promptIds, options) => {
    if (!promptIds.length) throw new Error('generate: the prompt has no tokens; give some text');
    if (!Number.isInteger(options.maxTokens) || options.maxTokens < 1) throw new Error(`generate: maxTokens must be a positive integer, got ${options.maxTokens}`);
    module.eval();
    const window = positions - virtualTokens();
    if (window < 1) throw new Error(`generate: the ${positions - window} virtual tokens fill all ${positionsKey} ${positions}; use a shorter prompt`);
    const useCache = options.cache ?? true;
    const ids = [...promptIds];
    const added: number[] = [];
    const cache = new KvCache();
    const lastLogits = (input: number[], withCache?: KvCache) =>
      tf.tidy(() => {
        const logits = module.forward(tf.tensor2d([input], [1, input.length], 'int32'), undefined, withCache);
        return tf.squeeze(tf.slice(logits, [0, input.length - 1, 0], [1, 1, -1])).dataSync() as Float32Array;
      });
    try {
      for (let step = 0; step < options.maxTokens; step++) {
        let row: Float32Array;
        if (!useCache) row = lastLogits(ids.slice(-window));
        else if (cache.length > 0 && cache.length < positions) row = lastLogits([ids[ids.length - 1]], cache);
        else {
          cache.dispose();
          row = lastLogits(ids.slice(-window), cache);
        }
        const next = options.pick(row, step);
        if (options.stopTokens?.includes(next)) break;
        ids.push(next);
        added.push(next);
        options.onToken?.(next);
      }
    } finally {
      cache.dispose();
    }
    return added;
  };
}
