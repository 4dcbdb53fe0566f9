import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { checkLastDim, checkPositiveInt } from './checks';

export interface LayerNormOptions {
  eps?: number;
  /** Learned `weight` (ones) and `bias` (zeros); default true. */
  elementwiseAffine?: boolean;
}

/** Normalises the last axis to zero mean and unit (biased) variance, then scales and shifts. */
export class LayerNorm extends Module {
  readonly normalizedShape: number;
  readonly eps: number;

  constructor(normalizedShape: number, options: LayerNormOptions = {}) {
    super();
    checkPositiveInt(normalizedShape, 'LayerNorm', 'normalizedShape');
    const eps = options.eps ?? 1e-5;
    if (!(eps > 0)) throw new Error(`LayerNorm: eps must be > 0, got ${eps}`);
    this.normalizedShape = normalizedShape;
    this.eps = eps;
    if (options.elementwiseAffine ?? true) {
      tf.tidy(() => {
        this.addParameter('weight', tf.ones([normalizedShape]));
        this.addParameter('bias', tf.zeros([normalizedShape]));
      });
    }
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastDim(x, this.normalizedShape, 'LayerNorm');
    return tf.tidy(() => {
      const axis = x.rank - 1;
      const mean = tf.mean(x, axis, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), axis, true);
      const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, this.eps)));
      if (!this.hasParameter('weight')) return normed;
      return tf.add(tf.mul(normed, this.param('weight')), this.param('bias'));
    });
  }
}
