import { Conv1D, Linear, Module, normal, tf } from '@leantune/tensor';

export type Ia3Base = Linear | Conv1D;

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
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.fanInFanOut = base instanceof Conv1D;
    this.addModule('base_layer', base);
    const shape = isFeedforward ? [1, this.inFeatures] : [this.outFeatures, 1];
    const vectors = this.addModule('ia3_l', new Ia3Vectors());
    tf.tidy(() => vectors.set(adapterName, init ? tf.ones(shape) : normal(shape)));
  }

  get baseLayer(): Ia3Base {
    return this.child<Ia3Base>('base_layer')!;
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

  /** The vector shaped to multiply the stored weight: rows of the output, columns of the input. */
  private weightFactor(): tf.Tensor {
    const l = this.vector;
    return this.fanInFanOut ? tf.transpose(l) : l;
  }

  /** Folds the vector into the base weight (and, for output scaling, the bias), as PEFT's merge. */
  merge(): void {
    if (this.merged) return;
    tf.tidy(() => {
      const { weight, bias } = this.baseLayer;
      weight.assign(tf.mul(weight, this.weightFactor()));
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
      const { weight, bias } = this.baseLayer;
      weight.assign(tf.div(weight, tf.add(this.weightFactor(), 1e-8)));
      if (!this.isFeedforward && bias) bias.assign(tf.div(bias, tf.add(tf.reshape(this.vector, bias.shape), 1e-8)));
    });
    this.merged = false;
  }
}
