import type { Batch, PointRegistry } from '@leantune/core';
import { tf } from '@leantune/tensor';

/** transformers' output names this package computes (which ones a model gives: `outputNames`). */
export const OUTPUT_NAMES = ['logits', 'last_hidden_state', 'pooler_output', 'hidden_states', 'text_embeds', 'image_embeds', 'logits_per_image', 'logits_per_text'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** Named outputs; `hidden_states` is a list (embeddings first, then every layer), the rest tensors. */
export type ModelOutputs = Partial<Record<OutputName, tf.Tensor | tf.Tensor[]>>;

/**
 * What one architecture computes for `outputs()`: a forward in eval mode given the names
 * asked for (`want`) and a place to put `hidden_states` when asked.
 */
export interface OutputsSpec {
  names: readonly OutputName[];
  compute(batch: Batch, want: ReadonlySet<OutputName>): ModelOutputs;
}

/**
 * Runs `forward` with the layer stack's input (the embeddings' output) and every layer's
 * output captured through the model's points (after any registered layer functions), in
 * transformers' order: hidden_states[0] = embeddings, hidden_states[i] = layer i's output.
 * `capture` false runs it plain.
 */
export function withHiddenStates<T>(points: PointRegistry, layers: number, capture: boolean, forward: () => T): { result: T; hidden: tf.Tensor[] } {
  if (!capture) return { result: forward(), hidden: [] };
  const hidden: tf.Tensor[] = [];
  const keep = (h: tf.Tensor, at: number) => void (hidden[at] = tf.keep(h.clone()));
  const off = [points.atLayerEntry(0, (h) => (keep(h, 0), h))];
  for (let i = 0; i < layers; i++) off.push(points.tapLayerOutput(i, (h) => keep(h, i + 1)));
  try {
    return { result: forward(), hidden };
  } catch (err) {
    tf.dispose(hidden);
    throw err;
  } finally {
    off.forEach((d) => d());
  }
}

/** The [b, hidden] first token of [b, s, hidden] ([CLS], <s>). */
export function firstToken(h: tf.Tensor): tf.Tensor2D {
  return tf.squeeze(tf.slice(h, [0, 0, 0], [-1, 1, -1]), [1]) as tf.Tensor2D;
}

/**
 * `model.outputs(batch, names)`: checks the names against what the model gives, runs it
 * in eval mode, and returns only what was asked (default: every output the model has
 * that the batch's inputs allow).
 */
export function outputsFunction(model: string, spec: OutputsSpec, setEval: () => void) {
  return (batch: Batch, names?: readonly string[]): ModelOutputs => {
    const asked = names ?? spec.names;
    for (const n of asked) {
      if (!spec.names.includes(n as OutputName)) {
        throw new Error(`${model} has no output "${n}"; it gives ${spec.names.join(', ')}${(OUTPUT_NAMES as readonly string[]).includes(n) ? '' : ` (transformers' names: ${OUTPUT_NAMES.join(', ')})`}`);
      }
    }
    setEval();
    const want = new Set(asked as OutputName[]);
    const all = spec.compute(batch, want);
    const out: ModelOutputs = {};
    for (const [k, v] of Object.entries(all) as Array<[OutputName, tf.Tensor | tf.Tensor[]]>) {
      if (want.has(k)) out[k] = v;
      else tf.dispose(v);
    }
    return out;
  };
}
