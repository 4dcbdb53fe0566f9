/**
 * core's textContextPoint on a toy text tower (word-level tokenizer with SOS/EOS, a tiny
 * embedding table, features = the masked sum of the embeddings): CoOp's slot layout for each
 * class position, the context gathered into the slots with its gradient, and the label
 * context / label features the model reads.
 */
import { tf } from '@leantune/tensor';
import { contextPromptIds, textContextPoint, type TextContextTower } from '@leantune/core';

const VOCAB = ['<pad>', '<sos>', '<eos>', 'x', 'a', 'photo', 'of', '.', 'ankle', 'boot', 'coat'];
const encodeIds = (text: string) => [1, ...text.replace(/\./g, ' .').split(/\s+/).filter(Boolean).map((w) => VOCAB.indexOf(w.toLowerCase())), 2];

function tower(table: tf.Tensor2D): TextContextTower {
  return {
    where: 'embeddings',
    dim: 2,
    vocabulary: { size: VOCAB.length, table: () => table, embed: (ids) => tf.gather(table, tf.tensor1d([...ids], 'int32')) },
    maxPositions: 12,
    source: 'toy-vocab',
    encodeIds,
    padId: 0,
    embedIds: (ids) => tf.gather(table, ids) as tf.Tensor3D,
    featuresFromEmbeds: (_ids, mask, embeds) => tf.sum(tf.mul(embeds, tf.expandDims(tf.cast(mask, 'float32'), -1)), 1) as tf.Tensor2D,
    encodeTexts: (texts) => tf.tidy(() => tf.stack(texts.map((t) => tf.sum(tf.gather(table, tf.tensor1d(encodeIds(t), 'int32')), 0))) as tf.Tensor2D),
  };
}

describe('contextPromptIds', () => {
  it.each([
    ['end', [1, 3, 3, 3, 8, 9, 7, 2], [1, 2, 3]],
    ['middle', [1, 3, 8, 9, 3, 3, 7, 2], [1, 4, 5]],
    ['front', [1, 8, 9, 3, 3, 3, 7, 2], [3, 4, 5]],
  ] as const)('places n slots with the class name at the %s, after SOS and before "." and EOS', (position, row, slots) => {
    expect(contextPromptIds({ encodeIds, source: 'toy' }, ['ankle boot'], 3, position)).toEqual({ rows: [row], slots: [slots] });
  });

  it('refuses a class whose prompt does not begin with the placeholders, naming the tokenizer', () => {
    const odd = (t: string) => (t.includes('coat') ? [1, 10, 2] : encodeIds(t));
    expect(() => contextPromptIds({ encodeIds: odd, source: 'toy-vocab' }, ['coat'], 2, 'end')).toThrow(/toy-vocab: the prompt for class "coat" does not begin with the tokens of "X X"/);
  });
});

describe('textContextPoint', () => {
  it("a context of the template's word embeddings gives the written prompt, and each context vector gets the gradient of every prompt it sits in", () => {
    const table = tf.tensor2d(VOCAB.map((_, i) => [i, i * i]), [VOCAB.length, 2]);
    const { point } = textContextPoint(tower(table));
    const context = point.vocabulary.embed([4, 5, 6, 4]); // "a photo of a"
    const viaContext = point.encodeWithContext(['coat', 'ankle boot'], context);
    expect(viaContext.arraySync()).toEqual(point.encodeTexts(['a photo of a coat.', 'a photo of a ankle boot.']).arraySync());
    const grad = tf.grad((c: tf.Tensor) => tf.sum(point.encodeWithContext(['coat', 'ankle boot'], c)))(context);
    // Every context vector sits once in each of the 2 prompts.
    expect(grad.arraySync()).toEqual(Array.from({ length: 4 }, () => [2, 2]));
    expect(() => point.encodeWithContext(['coat'], tf.zeros([13, 2]))).toThrow(/takes 17 tokens, more than the text tower's 12 positions/);
  });

  it('the label context, else the label features, else the fallback; one setter at a time', () => {
    const table = tf.tensor2d(VOCAB.map((_, i) => [i, 1]), [VOCAB.length, 2]);
    const text = textContextPoint(tower(table));
    const fallback = () => tf.tensor2d([[7, 7]]);
    expect(text.labelTextFeatures(['coat'], false, fallback).arraySync()).toEqual([[7, 7]]);
    const ctx = tf.tensor2d([[1, 0]]);
    const off = text.point.setLabelContext(() => ctx);
    expect(text.labelTextFeatures(['coat'], true, fallback).arraySync()).toEqual([[1 + 1 + 10 + 7 + 2, 4]]);
    expect(() => text.point.setLabelFeatures(() => tf.tensor2d([[0, 0]]))).toThrow(/a label context is already set/);
    off();
    text.point.setLabelFeatures(() => tf.tensor2d([[3, 4]]));
    expect(text.labelTextFeatures(['coat'], false, fallback).arraySync()).toEqual([[3, 4]]);
  });
});
