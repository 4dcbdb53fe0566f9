import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { uniform } from '../random';
import { checkProbability } from './checks';

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p).
 * Identity in eval mode or when p = 0 (it then returns `x` itself, not a copy). Each
 * training forward draws its mask seed from the global sequence, so `setSeed(n)`
 * reproduces the masks.
 */
export class Dropout extends Module {
  readonly p: number;

  constructor(p = 0.5) {
    super();
    checkProbability(p, 'Dropout', 'p');
    this.p = p;
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    if (this.p === 1) return tf.zerosLike(x);
    return tf.tidy(() => {
      // floor(u + 1 − p) is 1 exactly when u ≥ p: the mask in float arithmetic, which every
      // backend computes natively (a comparison with a scalar is a slow JS loop on cpu/native).
      const keep = tf.floor(tf.add(uniform(x.shape, 0, 1), 1 - this.p));
      return tf.mul(x, tf.mul(keep, 1 / (1 - this.p)));
    });
  }
}
