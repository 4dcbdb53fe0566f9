/**
 * use-lite outputs on fixed texts through APIs that existed before the extension points;
 * fixtures/points-golden.json holds them as the code before the points (commit 14726d1)
 * computed them, on the cpu backend.
 */
import { tf } from '@leantune/tensor';
import { padBatch, type PretrainedUseLite } from '../src';

export const GOLDEN_TEXTS = ['Win a free prize now', 'see you at the meeting tomorrow, bring the slides', 'ok'];

export function goldenOutputs({ encoder, tokenizer }: PretrainedUseLite): Record<string, number[]> {
  const { ids, attentionMask } = padBatch(GOLDEN_TEXTS.map((t) => tokenizer.encode(t)));
  encoder.eval();
  const out = encoder.forward(ids, attentionMask);
  const result = { meanPooled: Array.from(out.meanPooled.dataSync()), embedding: Array.from(out.embedding.dataSync()) };
  tf.dispose([ids, attentionMask, out.meanPooled, out.pooled, out.embedding]);
  return result;
}
