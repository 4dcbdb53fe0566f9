import type { Batch, LoadedModel } from '@leantune/core';
import { Embedding, LayerNorm, Linear, MLP, Module, ModuleList, MultiHeadAttention, normal, tf } from '@leantune/tensor';
import { loaderPlugin } from './loader-plugin';

/** The reference decoder's shape; the default is 4 layers, d 256, 4 heads, seq 128. */
export interface DecoderShape {
  layers: number;
  dModel: number;
  heads: number;
  seq: number;
  vocab: number;
}

export const REFERENCE_SHAPE: DecoderShape = { layers: 4, dModel: 256, heads: 4, seq: 128, vocab: 2048 };

/** Pre-norm GPT block; q/k/v/o named so LoRA targets `q` and `v` as in the issue. */
class Block extends Module {
  constructor(d: number, heads: number) {
    super();
    this.addModule('ln_1', new LayerNorm(d));
    this.addModule('attn', new MultiHeadAttention(d, heads, { causal: true, names: { q: 'q', k: 'k', v: 'v', o: 'o' } }));
    this.addModule('ln_2', new LayerNorm(d));
    this.addModule('mlp', new MLP(d, 4 * d, 'gelu_new'));
  }
  forward(x: tf.Tensor): tf.Tensor {
    const m = (name: string) => this.getSubmodule(name);
    const h = tf.add(x, m('attn').forward(m('ln_1').forward(x)) as tf.Tensor);
    return tf.add(h, m('mlp').forward(m('ln_2').forward(h)) as tf.Tensor);
  }
}

export class ReferenceDecoder extends Module {
  constructor(readonly shape: DecoderShape) {
    super();
    this.addModule('wte', new Embedding(shape.vocab, shape.dModel));
    this.addModule('wpe', new Embedding(shape.seq, shape.dModel));
    this.addModule('h', new ModuleList(Array.from({ length: shape.layers }, () => new Block(shape.dModel, shape.heads))));
    this.addModule('ln_f', new LayerNorm(shape.dModel));
    this.addModule('lm_head', new Linear(shape.dModel, shape.vocab, { bias: false }));
    // GPT-2's init, the same scheme as the PyTorch peer: N(0, 0.02) weights, zero biases.
    for (const [path, p] of this.namedParameters()) {
      if (path.endsWith('.bias') && !path.includes('ln_')) p.variable.assign(tf.zerosLike(p.variable));
      else if (path.endsWith('weight') && !path.includes('ln_')) p.variable.assign(normal(p.shape, 0.02));
    }
  }

  /** ids [batch, seq] → logits [batch, seq, vocab]. */
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const positions = tf.range(0, ids.shape[1]!, 1, 'int32');
      let x = tf.add(this.getSubmodule('wte').forward(ids) as tf.Tensor, this.getSubmodule('wpe').forward(positions) as tf.Tensor);
      for (const [, block] of this.getSubmodule('h').namedChildren()) x = block.forward(x) as tf.Tensor;
      return this.getSubmodule('lm_head').forward(this.getSubmodule('ln_f').forward(x)) as tf.Tensor;
    });
  }
}

/** Next-token cross-entropy over every position but the last. */
export function languageModelLoss(model: Module, ids: tf.Tensor2D, vocab: number): tf.Scalar {
  return tf.tidy(() => {
    const [b, s] = ids.shape;
    const logits = model.forward(tf.slice(ids, [0, 0], [b, s - 1])) as tf.Tensor3D;
    const targets = tf.reshape(tf.slice(ids, [0, 1], [b, s - 1]), [-1]);
    const flat = tf.reshape(logits, [-1, vocab]);
    return tf.losses.softmaxCrossEntropy(tf.oneHot(tf.cast(targets, 'int32'), vocab), flat) as tf.Scalar;
  });
}

export function decoderLoadedModel(shape: DecoderShape): LoadedModel {
  const module = new ReferenceDecoder(shape);
  return {
    name: 'bench-decoder',
    arch: 'bench-decoder',
    module,
    loss: (batch: Batch) => languageModelLoss(module, batch.inputs as tf.Tensor2D, shape.vocab),
  };
}

/** Model loader for `{ name: 'bench-decoder', layers, dModel, heads, seq, vocab }`. */
export const benchDecoderPlugin = loaderPlugin('bench-decoder', (spec) => decoderLoadedModel({ ...REFERENCE_SHAPE, ...(spec as Partial<DecoderShape>) }));
