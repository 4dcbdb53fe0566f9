import { tf } from '@leantune/tensor';

/** √(Σ‖g‖²) over all gradients, as one float (the value clip_grad_norm_ returns). */
export function globalNorm(grads: Map<string, tf.Tensor>): number {
  if (grads.size === 0) return 0;
  const norm = tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(tf.cast(g, 'float32')))))));
  const value = norm.dataSync()[0];
  norm.dispose();
  return value;
}

export interface ClippedGradients {
  /** New tensors (the caller disposes them); the inputs are left untouched. */
  grads: Map<string, tf.Tensor>;
  /** The norm before clipping. */
  totalNorm: number;
}

/**
 * torch.nn.utils.clip_grad_norm_: scale every gradient by min(1, max/(norm + 1e-6)).
 * The 1e-6 keeps a zero norm from dividing by zero, exactly as PyTorch does.
 */
export function clipGradNorm(grads: Map<string, tf.Tensor>, maxNorm: number): ClippedGradients {
  if (!(maxNorm > 0)) throw new Error(`clipGradNorm: maxNorm must be > 0, got ${maxNorm}`);
  const totalNorm = globalNorm(grads);
  const coef = Math.min(1, maxNorm / (totalNorm + 1e-6));
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) out.set(name, tf.tidy(() => tf.mul(g, coef)));
  return { grads: out, totalNorm };
}

/**
 * Sums gradients over micro-batches and hands back their mean, so N micro-batches of size
 * B step like one batch of size N·B (when the loss is a per-batch mean).
 */
export class GradientAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private n = 0;

  get count(): number {
    return this.n;
  }

  /** Adds one micro-batch's gradients; does not take ownership of `grads`. */
  add(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of grads) {
      const old = this.sums.get(name);
      if (old && !tf.util.arraysEqual(old.shape, g.shape)) {
        throw new Error(`GradientAccumulator: gradient "${name}" changed shape from [${old.shape}] to [${g.shape}]`);
      }
      this.sums.set(name, old ? tf.tidy(() => tf.add(old, g)) : tf.clone(g));
      old?.dispose();
    }
    this.n++;
  }

  /** The mean over the added micro-batches as new tensors (caller disposes), then resets. */
  takeMean(): Map<string, tf.Tensor> {
    if (this.n === 0) throw new Error('GradientAccumulator.takeMean: no micro-batch was added');
    if (this.n === 1) {
      // One micro-batch is its own mean: hand over the sums instead of a divided copy (a full model's worth of gradients).
      const sums = this.sums;
      this.sums = new Map();
      this.n = 0;
      return sums;
    }
    const out = new Map<string, tf.Tensor>();
    for (const [name, s] of this.sums) out.set(name, tf.tidy(() => tf.div(s, this.n)));
    this.reset();
    return out;
  }

  reset(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
    this.n = 0;
  }
}
