import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { Activation } from './activations';
import { checkPositiveInt } from './checks';
import { Dropout } from './dropout';
import { Linear } from './linear';

export interface MLPOptions {
  /** Dropout after fc2, as in GPT-2's and ViT's MLP blocks (default 0). */
  dropout?: number;
  bias?: boolean;
}

/** fc1 → activation → fc2 → dropout; fc1/fc2 are Linear children so LoRA can target them. */
export class MLP extends Module {
  constructor(dim: number, hidden: number, activationName = 'gelu', options: MLPOptions = {}) {
    super();
    checkPositiveInt(dim, 'MLP', 'dim');
    checkPositiveInt(hidden, 'MLP', 'hidden');
    const bias = options.bias ?? true;
    this.addModule('fc1', new Linear(dim, hidden, { bias }));
    this.addModule('act', new Activation(activationName));
    this.addModule('fc2', new Linear(hidden, dim, { bias }));
    this.addModule('dropout', new Dropout(options.dropout ?? 0));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      // By name on every call, so a child swapped by injection (LoRA, adapters) is used.
      for (const name of ['fc1', 'act', 'fc2', 'dropout']) h = this.getSubmodule(name).forward(h) as tf.Tensor;
      return h;
    });
  }
}
