import { backendCapability, tf } from '@leantune/tensor';
import { checkRange01, ParamOptimizer } from './optimizer';

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  /** Decoupled weight decay; PyTorch's default is 0.01. */
  weightDecay?: number;
  /** Parameters (by path) exempt from weight decay, e.g. /.*\.bias|.*norm.*\/ . */
  noDecay?: RegExp | ((name: string) => boolean);
}

/**
 * torch.optim.AdamW (amsgrad=False): p ← p·(1 − lr·wd), then Adam with bias correction:
 * p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε).
 */
export class AdamW extends ParamOptimizer {
  readonly name = 'adamw';
  protected readonly stateFields = ['exp_avg', 'exp_avg_sq'] as const;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly noDecay: (name: string) => boolean;

  constructor(params: Map<string, tf.Variable>, options: AdamWOptions = {}) {
    super(params);
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    checkRange01(this.beta1, 'betas[0]', 'AdamW');
    checkRange01(this.beta2, 'betas[1]', 'AdamW');
    if (!(this.eps >= 0)) throw new Error(`AdamW: eps must be >= 0, got ${this.eps}`);
    if (!(this.weightDecay >= 0)) throw new Error(`AdamW: weightDecay must be >= 0, got ${this.weightDecay}`);
    const nd = options.noDecay;
    this.noDecay = nd === undefined ? () => false : nd instanceof RegExp ? (n) => new RegExp(`^(?:${nd.source})$`).test(n) : nd;
  }

  protected update(name: string, param: tf.Variable, grad: tf.Tensor, lr: number, t: number): void {
    const { beta1, beta2, eps } = this;
    const m = this.stateVar(name, 'exp_avg', () => tf.zerosLike(param));
    const v = this.stateVar(name, 'exp_avg_sq', () => tf.zerosLike(param));
    const weightDecay = this.weightDecay > 0 && !this.noDecay(name) ? this.weightDecay : 0;
    const inPlace = backendCapability('adamwInPlace');
    const step = { lr, beta1, beta2, eps, weightDecay, biasCorrection1: 1 - beta1 ** t, biasCorrection2: 1 - beta2 ** t };
    if (grad.dtype === 'float32' && inPlace?.(param, grad, m, v, step)) return;
    const g = tf.cast(grad, 'float32');
    // A backend that updates in place (the native one: one pass, no new tensors) has done it above.
    const decayed = weightDecay > 0 ? tf.mul(param, 1 - lr * weightDecay) : param;
    const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const stepSize = lr / step.biasCorrection1;
    const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(step.biasCorrection2)), eps);
    m.assign(mNew);
    v.assign(vNew);
    param.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), stepSize)));
  }
}
