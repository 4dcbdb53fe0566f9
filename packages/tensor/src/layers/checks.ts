import * as tf from '@tensorflow/tfjs-core';

/** Throws unless `value` is a positive integer; names the layer and field for the fix. */
export function checkPositiveInt(value: number, layer: string, field: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${layer}: ${field} must be a positive integer, got ${value}`);
  }
}

export function checkProbability(p: number, layer: string, field: string): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${layer}: ${field} must be in [0, 1], got ${p}`);
}

/** Throws unless the input's last dimension is `expected`. */
export function checkLastDim(x: tf.Tensor, expected: number, layer: string, input = 'input'): void {
  if (x.rank < 1 || x.shape[x.rank - 1] !== expected) {
    throw new Error(
      `${layer}: ${input} must have last dimension ${expected}, got shape [${x.shape}]`,
    );
  }
}

export function checkRank(x: tf.Tensor, rank: number, layer: string, expected: string): void {
  if (x.rank !== rank) {
    throw new Error(`${layer}: input must be rank ${rank} ${expected}, got shape [${x.shape}]`);
  }
}
