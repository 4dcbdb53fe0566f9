import { tf } from '@leantune/tensor';
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
    const g = tf.cast(grad, 'float32');
    const decayed = this.weightDecay > 0 && !this.noDecay(name) ? tf.mul(param, 1 - lr * this.weightDecay) : param;
    const mNew = tf.add(tf.mul(m, beta1), tf.mul(g, 1 - beta1));
    const vNew = tf.add(tf.mul(v, beta2), tf.mul(tf.square(g), 1 - beta2));
    const stepSize = lr / (1 - beta1 ** t);
    const denom = tf.add(tf.div(tf.sqrt(vNew), Math.sqrt(1 - beta2 ** t)), eps);
    m.assign(mNew);
    v.assign(vNew);
    param.assign(tf.sub(decayed, tf.mul(tf.div(mNew, denom), stepSize)));
  }
}
