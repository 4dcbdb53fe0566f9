import { BatchNorm, clipWithGrad, Dropout, Linear, Module, relu, tf } from '@leantune/tensor';
import { FilterCachingConv2d } from './filter-cache';
import type { BlockRole, ConvUnitPlan, DenseActivation, ExplicitPad, UnitActivation } from './topology-types';
import { BLOCK_ROLES } from './topology-types';

/**
 * BatchNorm whose training-mode statistics start as the running ones (`statistics =
 * 'running'`): it always normalises with the running mean/variance and never updates them,
 * even while the rest of the tree trains (dropout on): fine-tuning on small, often
 * single-class batches would otherwise wreck the ImageNet-era statistics. `useBatchStats =
 * true` (spec `batchNorm: "train"`) gives PyTorch's train-mode behaviour; a method (BN
 * tuning's `running_stats: "reestimate"`) may set `statistics` itself.
 */
export class FreezableBatchNorm extends BatchNorm {
  constructor(...args: ConstructorParameters<typeof BatchNorm>) {
    super(...args);
    this.statistics = 'running';
  }

  get useBatchStats(): boolean {
    return this.statistics === 'batch';
  }

  set useBatchStats(value: boolean) {
    this.statistics = value ? 'batch' : 'running';
  }
}

function applyActivation(x: tf.Tensor, activation: UnitActivation | DenseActivation): tf.Tensor {
  // clip(x, 0, 6) equals ReLU6 and tfjs's cpu ClipByValue kernel is ~20× faster than Relu6;
  // clipWithGrad's backward is one kernel on the native backend instead of five.
  if (activation === 'relu6') return clipWithGrad(x, 0, 6);
  if (activation === 'relu') return relu(x);
  return x; // 'linear'; a softmax head is applied by the loss/predict, on logits
}

/**
 * Keras's MobileNetV2 pads [[0, 1], [0, 1]] before each stride-2 'valid' conv. When the
 * input side is a multiple of the stride, that is exactly TensorFlow's 'same' padding
 * (total k - s, the odd one at the bottom/right), which the conv kernels apply without
 * materialising a padded copy (tfjs's cpu PadV2 costs as much as the convs it feeds).
 */
function padIsSame(unit: ConvUnitPlan): boolean {
  if (!unit.explicitPad || unit.padding !== 'valid') return false;
  return unit.kernelSize.every((k, axis) => {
    const total = Math.max(k - unit.stride, 0);
    const [before, after] = unit.explicitPad![axis];
    return before === Math.floor(total / 2) && after === total - before;
  });
}

/** conv → BatchNorm → ReLU6 (or ReLU, or nothing), children `conv` and `bn`. */
export class ConvBnAct extends Module {
  readonly activation: UnitActivation;
  /** Keras ZeroPadding2D before the conv still to apply (null when folded into 'same'). */
  readonly explicitPad: ExplicitPad | null;
  /** The ZeroPadding2D was folded into 'same': valid only when the input side divides by the stride. */
  readonly foldedPadStride: number | null;

  constructor(unit: ConvUnitPlan) {
    super();
    const groups = unit.depthwise ? unit.inChannels : 1;
    const fold = padIsSame(unit);
    this.addModule(
      'conv',
      new FilterCachingConv2d(unit.inChannels, unit.outChannels, unit.kernelSize, { stride: unit.stride, padding: fold ? 'same' : unit.padding, groups, bias: unit.bias }),
    );
    if (unit.bn) {
      // Keras momentum is the weight of the old value; ours (PyTorch's) of the new one.
      this.addModule('bn', new FreezableBatchNorm(unit.outChannels, { eps: unit.bn.eps, momentum: 1 - unit.bn.kerasMomentum }));
    }
    this.activation = unit.activation;
    this.explicitPad = fold ? null : unit.explicitPad;
    this.foldedPadStride = fold ? unit.stride : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const s = this.foldedPadStride;
    if (s !== null && x.rank === 4 && (x.shape[1]! % s !== 0 || x.shape[2]! % s !== 0)) {
      throw new Error(`MobileNetV2: a stride-${s} conv got a ${x.shape[1]}×${x.shape[2]} map; input sides must be multiples of 32 (spec inputSize)`);
    }
    return tf.tidy(() => {
      let h = x;
      if (this.explicitPad) h = tf.pad(h, [[0, 0], this.explicitPad[0], this.explicitPad[1], [0, 0]]);
      h = this.child('conv')!.forward(h) as tf.Tensor;
      const bn = this.child('bn');
      if (bn) h = bn.forward(h) as tf.Tensor;
      return applyActivation(h, this.activation);
    });
  }
}

/** MobileNetV2's inverted residual: [expand 1×1] → depthwise 3×3 → project 1×1 (+ input). */
export class InvertedResidual extends Module {
  readonly residual: boolean;

  constructor(units: Partial<Record<BlockRole, ConvUnitPlan>>, residual: boolean) {
    super();
    for (const role of BLOCK_ROLES) {
      const unit = units[role];
      if (unit) this.addModule(role, new ConvBnAct(unit));
    }
    this.residual = residual;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      let h = x;
      // Looked up on each call, so a method that replaces `expand.conv` takes effect.
      for (const role of BLOCK_ROLES) {
        const unit = this.child(role);
        if (unit) h = unit.forward(h) as tf.Tensor;
      }
      return this.residual ? tf.add(x, h) : h;
    });
  }
}

/** A hidden layer of the dense head: Linear → ReLU → Dropout, children `dense`, `dropout`. */
export class DenseAct extends Module {
  readonly activation: DenseActivation;

  constructor(inFeatures: number, outFeatures: number, activation: DenseActivation, dropout: number, bias = true) {
    super();
    this.addModule('dense', new Linear(inFeatures, outFeatures, { bias }));
    this.addModule('dropout', new Dropout(dropout));
    this.activation = activation;
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const h = applyActivation(this.child('dense')!.forward(x) as tf.Tensor, this.activation);
      return this.child('dropout')!.forward(h) as tf.Tensor;
    });
  }
}
