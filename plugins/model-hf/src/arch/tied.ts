import { Linear, type Module, type Parameter, tf } from '@leantune/tensor';

/**
 * The weight an LM head tied to the embedding at `path` multiplies by: the embedding's own, or,
 * when an adapter wraps it (PEFT's lora.Embedding keeps it as `<path>.base_layer`), the wrapped
 * Embedding's. This is what transformers + PEFT compute: the head shares the Parameter with the
 * base embedding, so unmerged it uses the base weight (LoRA on the embedding changes the lookup
 * only), and merging, which adds the delta into that weight in place, changes the head too.
 */
export function tiedEmbeddingWeight(root: Module, path: string): tf.Variable {
  return tiedEmbeddingParameter(root, path).variable;
}

function tiedEmbeddingParameter(root: Module, path: string): Parameter {
  let embedding = root.getSubmodule(path);
  while (!embedding.hasParameter('weight') && embedding.child('base_layer')) embedding = embedding.child('base_layer')!;
  return embedding.getParameter('weight');
}

/** An LM head as one plain fp32 weight [vocab, hidden], which the fused loss (linearCrossEntropyWithLabels) multiplies by itself. */
export interface LmHeadWeight {
  weight: tf.Tensor;
  trains: boolean;
}

/**
 * The LM head's weight when the fused loss can use it: the tied embedding's (at `tiedPath`),
 * or an untied `lm_head` that is a plain bias-free Linear stored in fp32. Anything else (a
 * method wrapping lm_head, a quantized lm_head) returns undefined: the loss then goes
 * through the module and its logits.
 */
export function lmHeadWeight(root: Module, tiedPath: string | undefined): LmHeadWeight | undefined {
  if (tiedPath) {
    const p = tiedEmbeddingParameter(root, tiedPath);
    return { weight: p.variable, trains: p.requiresGrad };
  }
  const head = root.child('lm_head');
  if (!(head instanceof Linear) || head.hasParameter('bias')) return undefined;
  const p = head.getParameter('weight');
  return p.quantized ? undefined : { weight: p.variable, trains: p.requiresGrad };
}
