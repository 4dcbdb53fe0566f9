import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { fusedGelu } from '../ops/fused';

/** GELU, exact: x·Φ(x) = ½x(1 + erf(x/√2)). BERT's and ViT's "gelu". Keeps only x for the backward. */
export function gelu(x: tf.Tensor): tf.Tensor {
  return fusedGelu(x, false);
}

/** GELU, tanh approximation: ½x(1 + tanh(√(2/π)(x + 0.044715x³))). GPT-2's "gelu_new". */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return fusedGelu(x, true);
}

/** x·σ(1.702x), CLIP's "quick_gelu". */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(tf.mul(x, 1.702))));
}

export function relu(x: tf.Tensor): tf.Tensor {
  return tf.relu(x);
}

/** x·σ(x), a.k.a. swish. */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

export function tanh(x: tf.Tensor): tf.Tensor {
  return tf.tanh(x);
}

/** Activation names as Hugging Face configs spell them (`hidden_act`). */
export const ACTIVATIONS = {
  gelu,
  gelu_new: geluTanh,
  gelu_pytorch_tanh: geluTanh,
  quick_gelu: quickGelu,
  relu,
  silu,
  tanh,
} as const;

export type ActivationName = keyof typeof ACTIVATIONS;
export type ActivationFn = (x: tf.Tensor) => tf.Tensor;

export function isActivationName(name: string): name is ActivationName {
  return Object.prototype.hasOwnProperty.call(ACTIVATIONS, name);
}

/** The activation function for a config name; unknown names list the allowed ones. */
export function activationFn(name: string): ActivationFn {
  if (!isActivationName(name)) {
    throw new Error(`Unknown activation "${name}"; allowed: ${Object.keys(ACTIVATIONS).join(', ')}`);
  }
  return ACTIVATIONS[name];
}

/** A parameter-free module around an activation, so it can sit in a Sequential. */
export class Activation extends Module {
  readonly name: ActivationName;
  readonly fn: ActivationFn;

  constructor(name: string) {
    super();
    this.fn = activationFn(name);
    this.name = name as ActivationName;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.fn(x);
  }
}

export function activation(name: string): Activation {
  return new Activation(name);
}
