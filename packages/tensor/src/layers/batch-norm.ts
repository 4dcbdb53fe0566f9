import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { checkLastDim, checkPositiveInt, checkProbability } from './checks';

export interface BatchNormOptions {
  eps?: number;
  /** Weight of the new batch statistic in the running average (PyTorch's, default 0.1). */
  momentum?: number;
}

/**
 * Batch normalisation over the last (channel) axis of an input of any rank ≥ 2 (NHWC
 * for images, [batch, features] for vectors). `running_mean` and `running_var` are
 * buffers (Parameters that never require a gradient), so they sit in the stateDict beside
 * `weight` and `bias` under PyTorch's names. (PyTorch's `num_batches_tracked` buffer is not kept.)
 */
export class BatchNorm extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  /** Weight of the new batch statistic in the running average; a method may change it (re-estimating statistics). */
  momentum: number;
  /**
   * Statistics in training mode: 'batch' (PyTorch's train mode: normalise with the batch's
   * mean/variance and update the running ones with `momentum`) or 'running' (always the
   * running statistics, never updated: a frozen BatchNorm). Eval mode always uses the running ones.
   */
  statistics: 'batch' | 'running' = 'batch';

  constructor(numFeatures: number, options: BatchNormOptions = {}) {
    super();
    checkPositiveInt(numFeatures, 'BatchNorm', 'numFeatures');
    const eps = options.eps ?? 1e-5;
    if (!(eps > 0)) throw new Error(`BatchNorm: eps must be > 0, got ${eps}`);
    const momentum = options.momentum ?? 0.1;
    checkProbability(momentum, 'BatchNorm', 'momentum');
    this.numFeatures = numFeatures;
    this.eps = eps;
    this.momentum = momentum;
    tf.tidy(() => {
      this.addParameter('weight', tf.ones([numFeatures]));
      this.addParameter('bias', tf.zeros([numFeatures]));
      this.addBuffer('running_mean', tf.zeros([numFeatures]));
      this.addBuffer('running_var', tf.ones([numFeatures]));
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (x.rank < 2) throw new Error(`BatchNorm: input must be rank >= 2 [batch, ..., channels], got shape [${x.shape}]`);
    checkLastDim(x, this.numFeatures, 'BatchNorm', 'input (channels last)');
    return tf.tidy(() => {
      let mean: tf.Tensor;
      let variance: tf.Tensor;
      if (this.training && this.statistics === 'batch') {
        const count = x.size / this.numFeatures;
        if (count < 2) {
          throw new Error(`BatchNorm: training needs more than one value per channel, got input shape [${x.shape}]`);
        }
        const axes = x.shape.slice(0, -1).map((_, i) => i);
        mean = tf.mean(x, axes);
        variance = tf.mean(tf.square(tf.sub(x, mean)), axes);
        this.updateRunningStats(mean, variance, count);
      } else {
        mean = this.param('running_mean');
        variance = this.param('running_var');
      }
      const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, this.eps)));
      return tf.add(tf.mul(normed, this.param('weight')), this.param('bias'));
    });
  }

  /** As PyTorch: the running variance uses the unbiased batch variance (n / (n-1)). */
  private updateRunningStats(mean: tf.Tensor, biasedVar: tf.Tensor, count: number): void {
    const m = this.momentum;
    const runningMean = this.param('running_mean');
    const runningVar = this.param('running_var');
    runningMean.assign(tf.add(tf.mul(runningMean, 1 - m), tf.mul(mean, m)));
    runningVar.assign(tf.add(tf.mul(runningVar, 1 - m), tf.mul(biasedVar, (m * count) / (count - 1))));
  }
}
