import { Conv2d, conv2dWeightToTfjs, tf } from '@leantune/tensor';

/**
 * A Conv2d that keeps the tfjs-layout filter of a *frozen* weight between calls.
 *
 * Why: Conv2d stores PyTorch layout and transposes to tfjs layout on every forward.
 * tfjs's cpu Transpose is a generic per-element loop (~1 µs per value), so for
 * MobileNetV2's 2.2M conv weights that costs ~2-3 s per forward, more than the
 * convolutions themselves at 64-128 px. In PEFT the trunk is frozen, so the transposed
 * filter is computed once and reused until the weight's data changes (`assign` gives the
 * variable a new dataId). A weight that requires a gradient always takes Conv2d's own
 * path, so backprop to it is untouched; gradients to the input flow through either path.
 */
export class FilterCachingConv2d extends Conv2d {
  private cached: { dataId: object; filter: tf.Tensor4D } | null = null;

  override forward(x: tf.Tensor): tf.Tensor4D {
    const weight = this.getParameter('weight');
    const simplePadding = this.padding === 'same' || this.padding === 'valid';
    const simpleGroups = this.groups === 1 || this.depthwise;
    if (weight.requiresGrad || !simplePadding || !simpleGroups || x.rank !== 4 || x.shape[3] !== this.inChannels) {
      return super.forward(x); // also gives Conv2d's own errors for bad inputs
    }
    const filter = this.filterFor(weight.variable);
    const pad = this.padding as 'same' | 'valid';
    return tf.tidy(() => {
      const input = x as tf.Tensor4D;
      const y = this.depthwise ? tf.depthwiseConv2d(input, filter, this.stride, pad) : tf.conv2d(input, filter, this.stride, pad);
      return this.hasParameter('bias') ? tf.add(y, this.param('bias')) : y;
    });
  }

  /** The cached tfjs-layout filter, valid while the weight keeps its data (null when none). */
  get cachedFilter(): tf.Tensor4D | null {
    return this.cached?.dataId === this.getParameter('weight').variable.dataId ? this.cached.filter : null;
  }

  /**
   * Seeds the cache with a filter already in tfjs layout (a loader holding Keras weights
   * has one), so not even the first forward transposes. It must equal
   * conv2dWeightToTfjs(weight): the caller passes the values `weight` was loaded from.
   */
  primeFilter(filter: tf.Tensor4D): void {
    const [kh, kw] = this.kernelSize;
    const expected = this.depthwise ? [kh, kw, this.inChannels, this.outChannels / this.inChannels] : [kh, kw, this.inChannels / this.groups, this.outChannels];
    if (!tf.util.arraysEqual(filter.shape, expected)) {
      throw new Error(`FilterCachingConv2d.primeFilter: filter must be tfjs layout [${expected}], got [${filter.shape}]`);
    }
    this.dropCache();
    this.cached = { dataId: this.getParameter('weight').variable.dataId, filter: tf.keep(tf.clone(filter)) };
  }

  private filterFor(weight: tf.Variable): tf.Tensor4D {
    if (this.cached?.dataId !== weight.dataId) {
      this.dropCache();
      // tf.keep: the filter must outlive the tidy scope the forward may be called in.
      this.cached = { dataId: weight.dataId, filter: tf.keep(conv2dWeightToTfjs(weight, this.groups)) };
    }
    return this.cached!.filter;
  }

  private dropCache(): void {
    this.cached?.filter.dispose();
    this.cached = null;
  }

  override dispose(): void {
    this.dropCache();
    super.dispose();
  }
}
