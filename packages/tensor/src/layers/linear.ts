import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { frozenWeightLinear } from '../ops/fused';
import { quantizedLinear } from '../quant/ops';
import { fanInUniform, kaimingUniform, normal } from '../random';
import { checkLastDim, checkPositiveInt } from './checks';

export interface LinearOptions {
  /** Adds a learned bias (default true). */
  bias?: boolean;
}

/** Applies a 2-D matmul to the last axis of an input of any rank ≥ 1. */
function applyToLastAxis(x: tf.Tensor, outFeatures: number, project: (x2d: tf.Tensor2D) => tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const lead = x.shape.slice(0, -1);
    const x2d = tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D;
    return tf.reshape(project(x2d), [...lead, outFeatures]);
  });
}

/**
 * y = x·Wᵀ + b, with `weight` in PyTorch layout [out, in] so checkpoints load by name.
 * The forward uses `matMul(x, weight, false, true)` instead of keeping a transposed copy:
 * one copy of each weight (no sync to maintain when LoRA merges or a checkpoint loads),
 * and transposed matmuls are the case a later kernel task makes fast.
 */
export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(inFeatures: number, outFeatures: number, options: LinearOptions = {}) {
    super();
    checkPositiveInt(inFeatures, 'Linear', 'inFeatures');
    checkPositiveInt(outFeatures, 'Linear', 'outFeatures');
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    tf.tidy(() => {
      // PyTorch's reset_parameters: kaiming_uniform(a=√5) weight, U(±1/√in) bias.
      this.addParameter('weight', kaimingUniform([outFeatures, inFeatures], inFeatures));
      if (options.bias ?? true) this.addParameter('bias', fanInUniform([outFeatures], inFeatures));
    });
  }

  get weight(): tf.Variable {
    return this.param('weight');
  }

  get bias(): tf.Variable | undefined {
    return this.hasParameter('bias') ? this.param('bias') : undefined;
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastDim(x, this.inFeatures, 'Linear');
    const bias = this.bias;
    const weight = this.getParameter('weight');
    if (weight.quantized) {
      const q = weight.quantized;
      const biasTrains = bias != null && this.getParameter('bias').requiresGrad;
      return applyToLastAxis(x, this.outFeatures, (x2d) => quantizedLinear(x2d, q, bias, biasTrains));
    }
    if (!weight.requiresGrad) {
      const biasTrains = bias != null && this.getParameter('bias').requiresGrad;
      return applyToLastAxis(x, this.outFeatures, (x2d) => frozenWeightLinear(x2d, weight.variable, bias, biasTrains, false));
    }
    return applyToLastAxis(x, this.outFeatures, (x2d) => {
      const y = tf.matMul(x2d, this.weight, false, true);
      return bias ? tf.add(y, bias) : y;
    });
  }
}

/**
 * GPT-2's Conv1D (a Linear despite the name): `weight` is [in, out], transposed relative
 * to Linear, because that is how GPT-2 checkpoints store it. The argument order is Hugging
 * Face's: nf = output features, nx = input features.
 */
export class Conv1D extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(nf: number, nx: number) {
    super();
    checkPositiveInt(nf, 'Conv1D', 'nf (output features)');
    checkPositiveInt(nx, 'Conv1D', 'nx (input features)');
    this.inFeatures = nx;
    this.outFeatures = nf;
    tf.tidy(() => {
      // Hugging Face's Conv1D init: N(0, 0.02) weight, zero bias.
      this.addParameter('weight', normal([nx, nf], 0.02));
      this.addParameter('bias', tf.zeros([nf]));
    });
  }

  get weight(): tf.Variable {
    return this.param('weight');
  }

  get bias(): tf.Variable {
    return this.param('bias');
  }

  forward(x: tf.Tensor): tf.Tensor {
    checkLastDim(x, this.inFeatures, 'Conv1D');
    const weight = this.getParameter('weight');
    if (weight.quantized) {
      const q = weight.quantized;
      return applyToLastAxis(x, this.outFeatures, (x2d) => quantizedLinear(x2d, q, this.bias, this.getParameter('bias').requiresGrad));
    }
    if (!weight.requiresGrad) {
      return applyToLastAxis(x, this.outFeatures, (x2d) => frozenWeightLinear(x2d, weight.variable, this.bias, this.getParameter('bias').requiresGrad, true));
    }
    return applyToLastAxis(x, this.outFeatures, (x2d) => tf.add(tf.matMul(x2d, this.weight), this.bias));
  }
}
