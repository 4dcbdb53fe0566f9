import type { Module, tf } from '@leantune/tensor';

/**
 * The weight an LM head tied to the embedding at `path` multiplies by: the embedding's own, or,
 * when an adapter wraps it (PEFT's lora.Embedding keeps it as `<path>.base_layer`), the wrapped
 * Embedding's. This is what transformers + PEFT compute: the head shares the Parameter with the
 * base embedding, so unmerged it uses the base weight (LoRA on the embedding changes the lookup
 * only), and merging, which adds the delta into that weight in place, changes the head too.
 */
export function tiedEmbeddingWeight(root: Module, path: string): tf.Variable {
  let embedding = root.getSubmodule(path);
  while (!embedding.hasParameter('weight') && embedding.child('base_layer')) embedding = embedding.child('base_layer')!;
  return embedding.getParameter('weight').variable;
}
