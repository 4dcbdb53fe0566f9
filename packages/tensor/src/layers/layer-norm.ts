import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { fusedLayerNorm } from '../ops/fused';
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
    const affine = this.hasParameter('weight');
    return fusedLayerNorm(x, affine ? this.param('weight') : undefined, affine ? this.param('bias') : undefined, this.eps);
  }
}
