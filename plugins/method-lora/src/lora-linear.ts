import { Conv1D, Dropout, Linear, type Module, normal, scaleBy, tf } from '@leantune/tensor';
import { LoraLayerBase, type AdapterSettings } from './lora-layer';
import { DoraMagnitude, ModuleDict } from './modules';
import { svd, svdLowRank } from './svd';

export type { AdapterSettings } from './lora-layer';

/** What LoraLinear wraps: a Linear ([out, in]) or GPT-2's Conv1D ([in, out]). */
export type LoraBase = Linear | Conv1D;

/** Detaches a tensor from the gradient (DoRA treats the weight norm as a constant, §4.3). */
const stopGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
  value: tf.add(args[0] as tf.Tensor, 0),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as (x: tf.Tensor) => tf.Tensor;

/** x·Wᵀ over the last axis of an input of any rank, W in [out, in]. */
function project(x: tf.Tensor, wOutIn: tf.Tensor): tf.Tensor {
  const lead = x.shape.slice(0, -1);
  const y = tf.matMul(tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D, wOutIn as tf.Tensor2D, false, true);
  return tf.reshape(y, [...lead, wOutIn.shape[0]]);
}

/** L2 norm of each row of an [out, in] matrix. */
function rowNorm(w: tf.Tensor): tf.Tensor {
  return tf.sqrt(tf.sum(tf.square(w), 1));
}

/**
 * PEFT's lora.Linear: `base_layer` (the original layer, frozen) plus per-adapter
 * `lora_A.<name>` (Linear in→r, no bias), `lora_B.<name>` (Linear r→out, no bias),
 * `lora_dropout.<name>` and, for DoRA, `lora_magnitude_vector.<name>.weight`, so parameter
 * paths equal PEFT's in-memory names. output = base(x) + B(A(dropout(x))) · scaling.
 */
export class LoraLinear extends LoraLayerBase {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** True for Conv1D: its weight is [in, out], so deltas are transposed before merging. */
  readonly fanInFanOut: boolean;
  /** DoRA: weight norms from merge time, needed to unmerge exactly (PEFT caches them too). */
  private readonly mergeNorms = new Map<string, tf.Tensor>();

  constructor(base: LoraBase, adapterName: string, settings: AdapterSettings) {
    super(adapterName);
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    this.fanInFanOut = base instanceof Conv1D;
    this.addModule('base_layer', base);
    this.addModule('lora_dropout', new ModuleDict<Dropout>());
    this.addModule('lora_A', new ModuleDict<Linear>());
    this.addModule('lora_B', new ModuleDict<Linear>());
    this.updateLayer(adapterName, settings);
  }

  get baseLayer(): LoraBase {
    return this.child<LoraBase>('base_layer')!;
  }

  private dict<M extends Module>(name: string): ModuleDict<M> {
    return this.child<ModuleDict<M>>(name)!;
  }

  /**
   * The base weight in its own layout: the variable, or for a quantized base (model.quantize)
   * a transient fp32 copy that the caller's tf.tidy frees.
   */
  private baseWeight(): tf.Tensor {
    const p = this.baseLayer.getParameter('weight');
    return p.quantized ? p.dequantize() : p.variable;
  }

  /** Sets the base weight (its own layout); a quantized base is quantized again in its format. */
  private assignBaseWeight(w: tf.Tensor): void {
    this.baseLayer.getParameter('weight').assign(w);
  }

  /** The base weight as [out, in], whatever the base layer's layout. */
  private weightOutIn(): tf.Tensor {
    const w = this.baseWeight();
    return this.fanInFanOut ? tf.transpose(w) : w;
  }

  private assignWeightOutIn(wOutIn: tf.Tensor): void {
    tf.tidy(() => this.assignBaseWeight(this.fanInFanOut ? tf.transpose(wOutIn) : wOutIn));
  }

  /** Adds (or re-initialises) adapter `name` (PEFT's update_layer). */
  updateLayer(name: string, s: AdapterSettings): void {
    const maxRank = Math.min(this.inFeatures, this.outFeatures);
    if (s.r > maxRank) {
      throw new Error(`LoRA rank ${s.r} exceeds min(in, out) = ${maxRank} of this ${this.inFeatures}→${this.outFeatures} layer; use r <= ${maxRank}`);
    }
    if (this.settings.has(name)) this.deleteAdapter(name);
    this.settings.set(name, { ...s });
    this.dict<Dropout>('lora_dropout').set(name, new Dropout(s.dropout));
    // Linear's own init is kaiming_uniform(a=√5), which is PEFT's init for A (and, with
    // init_lora_weights=false, for B too).
    const a = this.dict<Linear>('lora_A').set(name, new Linear(this.inFeatures, s.r, { bias: false }));
    const b = this.dict<Linear>('lora_B').set(name, new Linear(s.r, this.outFeatures, { bias: false }));
    tf.tidy(() => {
      if (s.init === 'gaussian') a.weight.assign(normal([s.r, this.inFeatures], 1 / s.r));
      if (typeof s.init === 'string' && s.init.startsWith('pissa')) this.pissaInit(name, s.init);
      else if (s.init !== false) b.weight.assign(tf.zerosLike(b.weight));
    });
    if (s.useDora) {
      if (!this.child('lora_magnitude_vector')) this.addModule('lora_magnitude_vector', new ModuleDict<DoraMagnitude>());
      const norm = tf.tidy(() => rowNorm(tf.add(this.weightOutIn(), tf.mul(tf.matMul(b.weight, a.weight), s.scaling))));
      this.dict<DoraMagnitude>('lora_magnitude_vector').set(name, new DoraMagnitude(norm));
      norm.dispose();
    }
  }

  /**
   * PiSSA: A, B from the top-r singular triplets of W (divided by the scaling, so the
   * adapter adds exactly the principal part), and W keeps the residual.
   */
  private pissaInit(name: string, init: string): void {
    const { r, scaling } = this.settings.get(name)!;
    const w = this.weightOutIn();
    const [out, inF] = w.shape;
    const values = w.dataSync();
    const niter = /^pissa_niter_(\d+)$/.exec(init);
    const d = niter ? svdLowRank(values, out, inF, r, Number(niter[1])) : svd(values, out, inF);
    const aValues = new Float32Array(r * inF);
    const bValues = new Float32Array(out * r);
    for (let j = 0; j < r; j++) {
      const root = Math.sqrt(d.s[j] / scaling);
      for (let i = 0; i < inF; i++) aValues[j * inF + i] = root * d.vt[j * inF + i];
      for (let i = 0; i < out; i++) bValues[i * r + j] = d.u[i * d.k + j] * root;
    }
    const a = tf.tensor2d(aValues, [r, inF]);
    const b = tf.tensor2d(bValues, [out, r]);
    this.dict<Linear>('lora_A').get(name)!.weight.assign(a);
    this.dict<Linear>('lora_B').get(name)!.weight.assign(b);
    this.assignWeightOutIn(tf.sub(w, tf.mul(tf.matMul(b, a), scaling)));
  }

  /** scaling · B·A in the base weight's own layout (PEFT's get_delta_weight). */
  deltaWeight(name: string): tf.Tensor {
    return tf.tidy(() => {
      const delta = tf.mul(tf.matMul(this.dict<Linear>('lora_B').get(name)!.weight, this.dict<Linear>('lora_A').get(name)!.weight), this.settings.get(name)!.scaling);
      return this.fanInFanOut ? tf.transpose(delta) : delta;
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() =>
      this.forwardWith(x, (v) => this.baseLayer.forward(v), (name, s, v, result) => {
        const xd = this.dict<Dropout>('lora_dropout').get(name)!.forward(v);
        const lora = this.dict<Linear>('lora_B').get(name)!.forward(this.dict<Linear>('lora_A').get(name)!.forward(xd));
        return tf.add(result, s.useDora ? this.doraDelta(name, xd, lora, s.scaling) : scaleBy(lora, s.scaling));
      }),
    );
  }

  /** PEFT's DoraLinearLayer.forward: (m/‖W+sBA‖ − 1)·x·Wᵀ + (m/‖W+sBA‖)·s·B(A(x)). */
  private doraDelta(name: string, xd: tf.Tensor, lora: tf.Tensor, scaling: number): tf.Tensor {
    const w = this.weightOutIn();
    const loraWeight = tf.matMul(this.dict<Linear>('lora_B').get(name)!.weight, this.dict<Linear>('lora_A').get(name)!.weight);
    const norm = stopGradient(rowNorm(tf.add(w, tf.mul(loraWeight, scaling))));
    const factor = tf.div(this.dict<DoraMagnitude>('lora_magnitude_vector').get(name)!.weight, norm);
    return tf.add(tf.mul(tf.sub(factor, 1), project(xd, w)), tf.mul(factor, tf.mul(lora, scaling)));
  }

  /** Folds the given (default: active) adapters into the base weight. */
  merge(names: readonly string[] = this.activeAdapters): void {
    for (const name of names) {
      const s = this.settings.get(name);
      if (!s || this.mergedAdapters.includes(name)) continue;
      tf.tidy(() => {
        if (!s.useDora) {
          this.assignBaseWeight(tf.add(this.baseWeight(), this.deltaWeight(name)));
          return;
        }
        const delta = this.fanInFanOut ? tf.transpose(this.deltaWeight(name)) : this.deltaWeight(name);
        const combined = tf.add(this.weightOutIn(), delta);
        const norm = tf.keep(rowNorm(combined));
        this.mergeNorms.set(name, norm);
        const factor = tf.div(this.dict<DoraMagnitude>('lora_magnitude_vector').get(name)!.weight, norm);
        this.assignWeightOutIn(tf.mul(tf.expandDims(factor, 1), combined));
      });
      this.mergedAdapters.push(name);
    }
  }

  /** Undoes merges, last merged first. */
  unmerge(): void {
    while (this.mergedAdapters.length) {
      const name = this.mergedAdapters.pop()!;
      const s = this.settings.get(name)!;
      tf.tidy(() => {
        if (!s.useDora) {
          this.assignBaseWeight(tf.sub(this.baseWeight(), this.deltaWeight(name)));
          return;
        }
        const norm = this.mergeNorms.get(name)!;
        const factor = tf.div(this.dict<DoraMagnitude>('lora_magnitude_vector').get(name)!.weight, norm);
        const delta = this.fanInFanOut ? tf.transpose(this.deltaWeight(name)) : this.deltaWeight(name);
        this.assignWeightOutIn(tf.sub(tf.div(this.weightOutIn(), tf.expandDims(factor, 1)), delta));
      });
      this.mergeNorms.get(name)?.dispose();
      this.mergeNorms.delete(name);
    }
  }

  /** Drops every adapter but keeps the base weight as it is now (merged or not); returns the base layer. */
  override releaseBase(): LoraBase {
    for (const norm of this.mergeNorms.values()) norm.dispose();
    this.mergeNorms.clear();
    return super.releaseBase() as LoraBase;
  }
}
