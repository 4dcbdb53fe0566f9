import * as tf from '@tensorflow/tfjs-core';
import { Module } from '../module';
import { fanInUniform, kaimingUniform } from '../random';
import { checkPositiveInt, checkRank } from './checks';

export type Conv2dPadding = 'same' | 'valid' | number;

export interface Conv2dOptions {
  stride?: number;
  /**
   * 'valid' (none), a number p (p zeros on every side, PyTorch's `padding=p`), or 'same'
   * with TensorFlow semantics (output = ceil(in/stride); odd padding goes bottom/right).
   */
  padding?: Conv2dPadding;
  /** inChannels and outChannels must be divisible by it; groups = inChannels is depthwise. */
  groups?: number;
  bias?: boolean;
}

/**
 * 2-D convolution on NHWC inputs (tfjs's native layout). `weight` is stored in PyTorch
 * layout [out, in/groups, kh, kw], like every other layer here, so PyTorch/Hugging Face
 * checkpoints load by name; the forward transposes it to tfjs's layout (a small op next
 * to the convolution). Converters for tfjs-layout weights: `conv2dWeightFromTfjs` and
 * `conv2dWeightToTfjs`.
 */
export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: number;
  readonly padding: Conv2dPadding;
  readonly groups: number;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dOptions = {}) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    checkPositiveInt(inChannels, 'Conv2d', 'inChannels');
    checkPositiveInt(outChannels, 'Conv2d', 'outChannels');
    checkPositiveInt(kh, 'Conv2d', 'kernelSize[0]');
    checkPositiveInt(kw, 'Conv2d', 'kernelSize[1]');
    const { stride = 1, padding = 'valid', groups = 1 } = options;
    checkPositiveInt(stride, 'Conv2d', 'stride');
    checkPositiveInt(groups, 'Conv2d', 'groups');
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new Error(`Conv2d: inChannels (${inChannels}) and outChannels (${outChannels}) must be divisible by groups (${groups})`);
    }
    if (!(padding === 'same' || padding === 'valid' || (Number.isInteger(padding) && padding >= 0))) {
      throw new Error(`Conv2d: padding must be 'same', 'valid' or a non-negative integer, got ${String(padding)}`);
    }
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = [kh, kw];
    this.stride = stride;
    this.padding = padding;
    this.groups = groups;
    const fanIn = (inChannels / groups) * kh * kw;
    tf.tidy(() => {
      this.addParameter('weight', kaimingUniform([outChannels, inChannels / groups, kh, kw], fanIn));
      if (options.bias ?? true) this.addParameter('bias', fanInUniform([outChannels], fanIn));
    });
  }

  get depthwise(): boolean {
    return this.groups > 1 && this.groups === this.inChannels;
  }

  forward(x: tf.Tensor): tf.Tensor4D {
    checkRank(x, 4, 'Conv2d', 'NHWC [batch, height, width, channels]');
    if (x.shape[3] !== this.inChannels) {
      throw new Error(`Conv2d: input must have ${this.inChannels} channels (NHWC, last axis), got shape [${x.shape}]`);
    }
    if (this.isPatchEmbedding()) return this.patchForward(x as tf.Tensor4D);
    return tf.tidy(() => {
      let input = x as tf.Tensor4D;
      let pad: 'same' | 'valid' = 'valid';
      if (this.padding === 'same') pad = 'same';
      else if (typeof this.padding === 'number' && this.padding > 0) {
        const p = this.padding;
        input = tf.pad(input, [[0, 0], [p, p], [p, p], [0, 0]]);
      }
      const filter = conv2dWeightToTfjs(this.param('weight'), this.groups);
      let y: tf.Tensor4D;
      if (this.depthwise) y = tf.depthwiseConv2d(input, filter, this.stride, pad);
      else if (this.groups === 1) y = tf.conv2d(input, filter, this.stride, pad);
      else y = this.groupedConv(input, filter, pad);
      return this.hasParameter('bias') ? tf.add(y, this.param('bias')) : y;
    });
  }

  /** Non-overlapping patches (kernel = stride, no padding, one group): ViT's and CLIP's patch embedding. */
  private isPatchEmbedding(): boolean {
    const [kh, kw] = this.kernelSize;
    return this.groups === 1 && kh === this.stride && kw === this.stride && (this.padding === 'valid' || this.padding === 0);
  }

  /**
   * A patch embedding is a matmul of the flattened patches with the flattened kernel: the
   * same sums as tf.conv2d, computed (forward and backward) by the matmul, reshape and
   * transpose kernels instead of a direct convolution (whose filter gradient has no fast
   * kernel on the cpu-based backends: a ViT-B/16 step took 100 s there).
   */
  private patchForward(x: tf.Tensor4D): tf.Tensor4D {
    const [k] = this.kernelSize;
    const [n, h, w, c] = x.shape;
    const rows = Math.floor(h / k);
    const cols = Math.floor(w / k);
    return tf.tidy(() => {
      const cropped = rows * k === h && cols * k === w ? x : tf.slice(x, [0, 0, 0, 0], [n, rows * k, cols * k, c]);
      const patches = tf.reshape(tf.transpose(tf.reshape(cropped, [n, rows, k, cols, k, c]), [0, 1, 3, 2, 4, 5]), [n * rows * cols, k * k * c]);
      // [out, in, kh, kw] → [out, kh·kw·in], the patches' (kh, kw, in) order.
      const kernel = tf.reshape(tf.transpose(this.param('weight'), [0, 2, 3, 1]), [this.outChannels, k * k * c]);
      const y = tf.matMul(patches, kernel, false, true);
      const biased = this.hasParameter('bias') ? tf.add(y, this.param('bias')) : y;
      return tf.reshape(biased, [n, rows, cols, this.outChannels]) as tf.Tensor4D;
    });
  }

  /** tfjs has no grouped conv: convolve each channel group separately and concatenate. */
  private groupedConv(input: tf.Tensor4D, filter: tf.Tensor4D, pad: 'same' | 'valid'): tf.Tensor4D {
    const inputs = tf.split(input, this.groups, 3) as tf.Tensor4D[];
    const filters = tf.split(filter, this.groups, 3) as tf.Tensor4D[];
    return tf.concat(inputs.map((xi, g) => tf.conv2d(xi, filters[g], this.stride, pad)), 3);
  }
}

function checkRank4(weight: tf.Tensor, fn: string, layout: string): void {
  if (weight.rank !== 4) throw new Error(`${fn}: weight must be rank 4 ${layout}, got shape [${weight.shape}]`);
}

/**
 * PyTorch layout → tfjs layout. Regular and grouped conv: [out, in/g, kh, kw] →
 * [kh, kw, in/g, out] (groups side by side on the last axis). Depthwise (groups > 1 and
 * in/g = 1): [in·mult, 1, kh, kw] → [kh, kw, in, mult], tf.depthwiseConv2d's filter;
 * output channel c·mult + m in both.
 */
export function conv2dWeightToTfjs(weight: tf.Tensor, groups = 1): tf.Tensor4D {
  checkRank4(weight, 'conv2dWeightToTfjs', '[out, in/groups, kh, kw] (PyTorch layout)');
  const [outC, inPerGroup, kh, kw] = weight.shape;
  if (!Number.isInteger(groups) || groups < 1 || outC % groups !== 0) {
    throw new Error(`conv2dWeightToTfjs: groups must be a positive integer dividing out channels (${outC}), got ${groups}`);
  }
  return tf.tidy(() => {
    if (groups === 1 || inPerGroup !== 1) return tf.transpose(weight, [2, 3, 1, 0]) as tf.Tensor4D;
    return tf.transpose(tf.reshape(weight, [groups, outC / groups, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
  });
}

/**
 * tfjs layout → PyTorch layout, the inverse of conv2dWeightToTfjs, for loading tfjs
 * models. `depthwise` says the filter is a depthwiseConv2d one, [kh, kw, in, mult].
 */
export function conv2dWeightFromTfjs(weight: tf.Tensor, depthwise = false): tf.Tensor4D {
  checkRank4(weight, 'conv2dWeightFromTfjs', '[kh, kw, in, out] (tfjs layout)');
  return tf.tidy(() => {
    if (!depthwise) return tf.transpose(weight, [3, 2, 0, 1]) as tf.Tensor4D;
    const [kh, kw, inC, mult] = weight.shape;
    return tf.reshape(tf.transpose(weight, [2, 3, 0, 1]), [inC * mult, 1, kh, kw]) as tf.Tensor4D;
  });
}
