import * as tf from '@tensorflow/tfjs-core';
import { backendCapability } from './backend/capabilities';

/**
 * One process-wide seed sequence for parameter init and dropout masks. tfjs's random ops
 * take a per-call seed; drawing each call's seed from this sequence makes a whole model
 * (every init call, every dropout mask, in order) reproducible from one `setSeed(n)`.
 * Until `setSeed` is called the sequence starts from seed 0, so even an unseeded process
 * is reproducible.
 */
let state = 0;

function checkSeed(seed: number, where: string): void {
  if (!Number.isInteger(seed)) {
    throw new Error(`${where}: seed must be an integer, got ${seed}`);
  }
}

/** Where the seed sequence stands, to draw the same seeds again (activation checkpointing recomputes a block). */
export function seedState(): number {
  return state;
}

/** Puts the seed sequence back where `seedState` found it. */
export function restoreSeedState(saved: number): void {
  state = saved >>> 0;
}

/** Restarts the seed sequence: the same seed gives the same weights and dropout masks. */
export function setSeed(seed: number): void {
  checkSeed(seed, 'setSeed');
  state = seed >>> 0;
}

/**
 * The next seed of the sequence (a non-negative 31-bit integer). splitmix32 mixing so that
 * consecutive seeds (0, 1, 2 …) give unrelated streams rather than near-identical ones.
 */
export function nextSeed(): number {
  state = (state + 0x9e3779b9) >>> 0;
  let z = state;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  z = (z ^ (z >>> 16)) >>> 0;
  return z & 0x7fffffff;
}

function checkShape(shape: readonly number[], where: string): void {
  if (!shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new Error(`${where}: shape must be non-negative integers, got [${shape}]`);
  }
}

/**
 * U(low, high) with a fresh seed from the sequence. A backend with a native generator fills
 * it natively (the native backend draws 124M values in well under a second where tfjs's JS
 * generator takes tens of seconds); a seed then gives the same values on that backend, not
 * the same values as on another backend.
 */
export function uniform(shape: readonly number[], low: number, high: number, seed = nextSeed()): tf.Tensor {
  checkShape(shape, 'uniform');
  if (!(high >= low)) throw new Error(`uniform: need low <= high, got low=${low}, high=${high}`);
  const fill = backendCapability('randomFill');
  if (fill) return fill(shape, { kind: 'uniform', a: low, b: high, seed });
  return tf.randomUniform([...shape], low, high, 'float32', seed);
}

/** N(mean, std²) with a fresh seed from the sequence (natively where the backend can, as `uniform`). */
export function normal(shape: readonly number[], std = 1, mean = 0, seed = nextSeed()): tf.Tensor {
  checkShape(shape, 'normal');
  if (!(std >= 0)) throw new Error(`normal: std must be >= 0, got ${std}`);
  const fill = backendCapability('randomFill');
  if (fill) return fill(shape, { kind: 'normal', a: mean, b: std, seed });
  return tf.randomNormal([...shape], mean, std, 'float32', seed);
}

/**
 * PyTorch's kaiming_uniform_: U(-b, b) with b = gain·√(3/fanIn), gain = √(2/(1+a²)).
 * The default a = √5 is what nn.Linear and nn.Conv2d use, giving b = 1/√fanIn.
 */
export function kaimingUniform(shape: readonly number[], fanIn: number, a = Math.sqrt(5)): tf.Tensor {
  if (!(fanIn > 0)) throw new Error(`kaimingUniform: fanIn must be > 0, got ${fanIn}`);
  const gain = Math.sqrt(2 / (1 + a * a));
  const bound = gain * Math.sqrt(3 / fanIn);
  return uniform(shape, -bound, bound);
}

/** PyTorch's default bias init for Linear/Conv: U(-1/√fanIn, 1/√fanIn). */
export function fanInUniform(shape: readonly number[], fanIn: number): tf.Tensor {
  if (!(fanIn > 0)) throw new Error(`fanInUniform: fanIn must be > 0, got ${fanIn}`);
  const bound = 1 / Math.sqrt(fanIn);
  return uniform(shape, -bound, bound);
}

export function zeros(shape: readonly number[]): tf.Tensor {
  checkShape(shape, 'zeros');
  return tf.zeros([...shape]);
}

export function ones(shape: readonly number[]): tf.Tensor {
  checkShape(shape, 'ones');
  return tf.ones([...shape]);
}

/** The kept positions' scale 1/(1 − p), 0 at the dropped ones: the mask dropoutBySeed draws from `seed`. */
export function scaledDropoutMask(shape: readonly number[], p: number, seed: number): tf.Tensor {
  // floor(u + 1 − p) is 1 exactly when u ≥ p: the mask in float arithmetic, which every
  // backend computes natively (a comparison with a scalar is a slow JS loop on cpu/native).
  return tf.tidy(() => tf.mul(tf.floor(tf.add(uniform(shape, 0, 1, seed), 1 - p)), 1 / (1 - p)));
}
