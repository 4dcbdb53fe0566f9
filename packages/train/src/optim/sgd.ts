import { tf } from '@leantune/tensor';
import { ParamOptimizer } from './optimizer';

export interface SGDOptions {
  momentum?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (coupled), as torch.optim.SGD does. */
  weightDecay?: number;
}

/**
 * torch.optim.SGD with dampening 0: g ← g + wd·p; buf ← g on a parameter's first step,
 * else μ·buf + g; d ← nesterov ? g + μ·buf : buf; p ← p − lr·d.
 */
export class SGD extends ParamOptimizer {
  readonly name = 'sgd';
  protected readonly stateFields = ['momentum_buffer'] as const;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(params: Map<string, tf.Variable>, options: SGDOptions = {}) {
    super(params);
    this.momentum = options.momentum ?? 0;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    if (!(this.momentum >= 0)) throw new Error(`SGD: momentum must be >= 0, got ${this.momentum}`);
    if (!(this.weightDecay >= 0)) throw new Error(`SGD: weightDecay must be >= 0, got ${this.weightDecay}`);
    if (this.nesterov && this.momentum === 0) throw new Error('SGD: nesterov needs momentum > 0; set momentum or nesterov: false');
  }

  protected update(name: string, param: tf.Variable, grad: tf.Tensor, lr: number): void {
    let g = tf.cast(grad, 'float32');
    if (this.weightDecay > 0) g = tf.add(g, tf.mul(param, this.weightDecay));
    if (this.momentum > 0) {
      // PyTorch tests the buffer itself (`buf is None`), not the step count.
      const fresh = !this.hasState(name, 'momentum_buffer');
      const buf = this.stateVar(name, 'momentum_buffer', () => tf.zerosLike(param));
      const bufNew = fresh ? g : tf.add(tf.mul(buf, this.momentum), g);
      buf.assign(bufNew);
      g = this.nesterov ? tf.add(g, tf.mul(bufNew, this.momentum)) : bufNew;
    }
    param.assign(tf.sub(param, tf.mul(g, lr)));
  }
}
