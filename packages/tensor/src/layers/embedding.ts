import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { normal } from '../random';
import { checkPositiveInt } from './checks';

export interface EmbeddingOptions {
  /** Row initialised to zeros, as PyTorch does (its gradient is not masked here). */
  paddingIdx?: number;
  /** Std of the N(0, std²) init; PyTorch's default is 1, Hugging Face models use 0.02. */
  initStd?: number;
}

/** A lookup table `weight` [num, dim]; forward maps int32 ids of any shape to [...ids, dim]. */
export class Embedding extends Module {
  readonly numEmbeddings: number;
  readonly embeddingDim: number;
  readonly paddingIdx: number | undefined;

  constructor(numEmbeddings: number, embeddingDim: number, options: EmbeddingOptions = {}) {
    super();
    checkPositiveInt(numEmbeddings, 'Embedding', 'numEmbeddings');
    checkPositiveInt(embeddingDim, 'Embedding', 'embeddingDim');
    const { paddingIdx } = options;
    if (paddingIdx !== undefined && !(Number.isInteger(paddingIdx) && paddingIdx >= 0 && paddingIdx < numEmbeddings)) {
      throw new Error(`Embedding: paddingIdx must be an integer in [0, ${numEmbeddings - 1}], got ${paddingIdx}`);
    }
    this.numEmbeddings = numEmbeddings;
    this.embeddingDim = embeddingDim;
    this.paddingIdx = paddingIdx;
    tf.tidy(() => {
      let weight = normal([numEmbeddings, embeddingDim], options.initStd ?? 1);
      if (paddingIdx !== undefined) {
        const keep = new Float32Array(numEmbeddings).fill(1);
        keep[paddingIdx] = 0;
        weight = tf.mul(weight, tf.tensor2d(keep, [numEmbeddings, 1]));
      }
      this.addParameter('weight', weight);
    });
  }

  get weight(): tf.Variable {
    return this.param('weight');
  }

  forward(ids: tf.Tensor): tf.Tensor {
    if (ids.dtype !== 'int32') {
      throw new Error(`Embedding: ids must be an int32 tensor, got dtype ${ids.dtype}; cast with tf.cast(ids, 'int32')`);
    }
    // Out-of-range ids are rejected by the backend's gather ("index … is not in [0, n-1]").
    return tf.gather(this.weight, ids);
  }
}
