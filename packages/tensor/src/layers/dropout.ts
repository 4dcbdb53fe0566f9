import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { customOp } from '../ops/fused';
import { nextSeed, scaledDropoutMask } from '../random';
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
    return dropoutBySeed(x, this.p, nextSeed());
  }
}

/**
 * x with each element zeroed with probability p and the rest scaled by 1/(1 − p), the mask
 * drawn from `seed`. The backward draws the same mask again from the seed instead of keeping
 * it: tf.mul would keep the mask and its scaled copy, two activations per dropout (a quarter
 * of GPT-2 small's training memory). Same masks, so the same values, as keeping them.
 */
export function dropoutBySeed(x: tf.Tensor, p: number, seed: number): tf.Tensor {
  const scaledMask = () => scaledDropoutMask(x.shape, p, seed);
  return customOp([x], ([input]) => ({
    value: tf.tidy(() => tf.mul(input, scaledMask())),
    gradFunc: (dy) => tf.tidy(() => tf.mul(dy, scaledMask())),
  }));
}
