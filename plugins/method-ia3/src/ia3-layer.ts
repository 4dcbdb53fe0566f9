import { Conv1D, Conv2d, Linear, Module, normal, tf } from '@leantune/tensor';

export type Ia3Base = Linear | Conv1D | Conv2d;

/** Shape of ia3_l for a base layer, as PEFT saves it: Linear/Conv1D [out, 1] or [1, in] (feed-forward); Conv2d [1, out, 1, 1] or [1, in, 1, 1]. */
export function ia3VectorShape(base: Ia3Base, isFeedforward: boolean): number[] {
  if (base instanceof Conv2d) return [1, isFeedforward ? base.inChannels : base.outChannels, 1, 1];
  return isFeedforward ? [1, base.inFeatures] : [base.outFeatures, 1];
}

/** Holds one vector per adapter name, so paths read `<layer>.ia3_l.<adapter>` like PEFT's ParameterDict. */
export class Ia3Vectors extends Module {
  set(name: string, value: tf.Tensor): void {
    this.addParameter(name, value);
  }
  get(name: string): tf.Variable {
    return this.param(name);
  }
  forward(): never {
    throw new Error('Ia3Vectors holds parameters; Ia3Layer applies them');
  }
}

/**
 * PEFT's IA3 Linear: a learned vector `ia3_l` rescales the layer's output (keys, values:
 * shape [out, 1]) or, for feed-forward modules, its input (shape [1, in]):
 *   output scaling:  y = base(x) ⊙ l        input scaling:  y = base(x ⊙ l)
 * On a Conv2d (PEFT's ia3.Conv2d) the vector is [1, out, 1, 1] or [1, in, 1, 1] and scales
 * channels; our maps are channels-last, so it multiplies the last axis as for a Linear.
 */
export class Ia3Layer extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** GPT-2's Conv1D keeps its weight [in, out]. */
  readonly fanInFanOut: boolean;
  merged = false;
  disabled = false;

  constructor(base: Ia3Base, readonly isFeedforward: boolean, readonly adapterName = 'default', init = true) {
    super();
    const conv = base instanceof Conv2d;
    this.inFeatures = conv ? base.inChannels : base.inFeatures;
    this.outFeatures = conv ? base.outChannels : base.outFeatures;
    this.fanInFanOut = base instanceof Conv1D;
    this.addModule('base_layer', base);
    const shape = ia3VectorShape(base, isFeedforward);
    const vectors = this.addModule('ia3_l', new Ia3Vectors());
    tf.tidy(() => vectors.set(adapterName, init ? tf.ones(shape) : normal(shape)));
  }

  get baseLayer(): Ia3Base {
    return this.child<Ia3Base>('base_layer')!;
  }

  /**
   * The base weight's values (a transient fp32 copy, freed by the caller's tidy, when the base
   * is quantized by model.quantize), a setter (a quantized base is quantized again in its
   * format), and the bias variable. Conv2d has no getters for them.
   */
  private baseWeights(): { weight: tf.Tensor; setWeight: (w: tf.Tensor) => void; bias?: tf.Variable } {
    const base = this.baseLayer;
    const p = base.getParameter('weight');
    return { weight: p.quantized ? p.dequantize() : p.variable, setWeight: (w) => p.assign(w), bias: base.hasParameter('bias') ? base.getParameter('bias').variable : undefined };
  }

  get vector(): tf.Variable {
    return this.child<Ia3Vectors>('ia3_l')!.get(this.adapterName);
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      if (this.merged || this.disabled) return this.baseLayer.forward(x);
      const l = tf.reshape(this.vector, [-1]);
      return this.isFeedforward ? this.baseLayer.forward(tf.mul(x, l)) : tf.mul(this.baseLayer.forward(x), l);
    });
  }

  /** The vector shaped to multiply the stored weight: rows of the output, columns of the input (a conv's [out, in, kh, kw]: axis 0 or 1). */
  private weightFactor(): tf.Tensor {
    const l = this.vector;
    if (this.baseLayer instanceof Conv2d) return tf.reshape(l, this.isFeedforward ? [1, -1, 1, 1] : [-1, 1, 1, 1]);
    return this.fanInFanOut ? tf.transpose(l) : l;
  }

  /** Folds the vector into the base weight (and, for output scaling, the bias), as PEFT's merge. */
  merge(): void {
    if (this.merged) return;
    tf.tidy(() => {
      const { weight, setWeight, bias } = this.baseWeights();
      setWeight(tf.mul(weight, this.weightFactor()));
      if (!this.isFeedforward && bias) bias.assign(tf.mul(bias, tf.reshape(this.vector, bias.shape)));
    });
    this.merged = true;
  }

  /** The base layer to put back (after merge or unmerge); frees the vector. */
  releaseBase(): Ia3Base {
    this.vector.dispose();
    return this.baseLayer;
  }

  /** Undoes merge by dividing (PEFT adds 1e-8 to avoid dividing by zero). */
  unmerge(): void {
    if (!this.merged) return;
    tf.tidy(() => {
      const { weight, setWeight, bias } = this.baseWeights();
      setWeight(tf.div(weight, tf.add(this.weightFactor(), 1e-8)));
      if (!this.isFeedforward && bias) bias.assign(tf.div(bias, tf.add(tf.reshape(this.vector, bias.shape), 1e-8)));
    });
    this.merged = false;
  }
}
