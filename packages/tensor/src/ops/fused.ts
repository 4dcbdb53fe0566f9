import * as tf from '@tensorflow/tfjs-core';
import { scaledDropoutMask } from '../random';

/**
 * Fused training ops. Each is one tfjs kernel on a backend that registers it (the native
 * backend does), and the same maths from stock ops elsewhere. Either way the op keeps only
 * what its own backward needs (tf.customGrad): tfjs's stock ops save every input of every
 * step, so a GELU built from eight ops keeps eight activations per layer where PyTorch
 * keeps one.
 *
 * Kernel contracts (a backend registers these names to take the fused path):
 * - LeantuneGelu {x} {approximate} → y; LeantuneGeluGrad {dy, x} {approximate} → dx
 * - LeantuneLayerNorm {x, gamma?, beta?} {eps} → [y, mean [rows], rstd [rows]]
 * - LeantuneLayerNormGrad {dy, x, mean, rstd, gamma?} → [dx, dgamma?, dbeta?]
 * - LeantuneSoftmaxCrossEntropy {logits [rows, cols], labels int32 [rows]} → loss [rows]
 *   (a label outside [0, cols) is ignored: loss 0, gradient 0)
 * - LeantuneSoftmaxCrossEntropyGrad {logits, labels, dloss [rows]} → dlogits
 * - LeantuneSoftmaxGrad {y, dy} → dx = y·(dy − Σ dy·y) over the last axis (tf.softmax's backward)
 * - LeantuneClipGrad {dy, x} {min, max} → dy where min ≤ x ≤ max, else 0 (NaN x: 0), x and dy
 *   of one shape (tf.clipByValue's backward, which is five stock kernels)
 */
export const FUSED_KERNELS = {
  gelu: 'LeantuneGelu',
  geluGrad: 'LeantuneGeluGrad',
  layerNorm: 'LeantuneLayerNorm',
  layerNormGrad: 'LeantuneLayerNormGrad',
  softmaxCrossEntropy: 'LeantuneSoftmaxCrossEntropy',
  softmaxCrossEntropyGrad: 'LeantuneSoftmaxCrossEntropyGrad',
  softmaxGrad: 'LeantuneSoftmaxGrad',
  clipGrad: 'LeantuneClipGrad',
} as const;

/** Whether the active backend computes `kernelName` itself. */
export function backendHasKernel(kernelName: string): boolean {
  return tf.getKernel(kernelName, tf.getBackend()) != null;
}

function run<T extends tf.Tensor | tf.Tensor[]>(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown> = {}): T {
  return tf.engine().runKernel(kernelName, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap) as unknown as T;
}

interface CustomResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
}

/** tf.customGrad over `inputs` (an op that keeps only what `save` is given): f gets them as an array with the save function; its gradFunc returns one gradient per input. */
export function customOp<T extends tf.Tensor>(inputs: tf.Tensor[], f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => CustomResult): T {
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    return f(args.slice(0, -1) as tf.Tensor[], save) as { value: T; gradFunc: CustomResult['gradFunc'] };
  });
  return op(...inputs) as T;
}

/**
 * x · s for a constant s, keeping nothing for the backward (dy · s). tf.mul keeps both of
 * its operands, so a LoRA branch scaled by tf.mul would keep a copy of its [tokens, out]
 * output per layer only to differentiate with respect to the constant.
 */
export function scaleBy<T extends tf.Tensor>(x: T, s: number): T {
  if (s === 1) return x;
  return customOp<T>([x], ([input]) => ({ value: tf.mul(input, s), gradFunc: (dy) => tf.mul(dy, s) }));
}

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

function geluComposed(x: tf.Tensor, approximate: boolean): tf.Tensor {
  if (!approximate) return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1));
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), GELU_CUBIC)), SQRT_2_OVER_PI);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
}

/** d gelu / dx · dy from stock ops: Φ(x) + x·φ(x) exact; the tanh form's derivative otherwise. */
function geluGradComposed(dy: tf.Tensor, x: tf.Tensor, approximate: boolean): tf.Tensor {
  if (!approximate) {
    const cdf = tf.mul(tf.add(tf.erf(tf.mul(x, Math.SQRT1_2)), 1), 0.5);
    const pdf = tf.mul(tf.exp(tf.mul(tf.square(x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
    return tf.mul(dy, tf.add(cdf, tf.mul(x, pdf)));
  }
  const x2 = tf.square(x);
  const t = tf.tanh(tf.mul(tf.mul(x, tf.add(tf.mul(x2, GELU_CUBIC), 1)), SQRT_2_OVER_PI));
  const dInner = tf.mul(tf.add(tf.mul(x2, 3 * GELU_CUBIC), 1), SQRT_2_OVER_PI);
  const d = tf.add(tf.mul(tf.add(t, 1), 0.5), tf.mul(tf.mul(tf.mul(x, 0.5), tf.sub(1, tf.square(t))), dInner));
  return tf.mul(dy, d);
}

/**
 * clip(x, min, max) whose backward is one kernel where the backend has it: tfjs's stock
 * gradient (where(x ≥ min ∧ x ≤ max, dy, 0)) runs GreaterEqual, LessEqual, LogicalAnd,
 * ZerosLike and Select, each a pass over the tensor and a new buffer. MobileNetV2's ReLU6 is
 * clip(x, 0, 6): those five took about a third of its full fine-tuning step's kernel time on
 * the native backend. Keeps only x, as tf.clipByValue does.
 */
export function clipWithGrad(x: tf.Tensor, min: number, max: number): tf.Tensor {
  const fused = backendHasKernel(FUSED_KERNELS.clipGrad) && x.dtype === 'float32';
  if (!fused) return tf.clipByValue(x, min, max);
  return customOp([x], ([input], save) => {
    save([input]);
    return {
      value: tf.clipByValue(input, min, max),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => run<tf.Tensor>(FUSED_KERNELS.clipGrad, { dy, x: saved[0] }, { min, max }),
    };
  });
}

/** GELU keeping only its input for the backward. `approximate`: GPT-2's tanh form. */
export function fusedGelu(x: tf.Tensor, approximate: boolean): tf.Tensor {
  const fused = backendHasKernel(FUSED_KERNELS.gelu) && x.dtype === 'float32';
  return customOp([x], ([input], save) => {
    save([input]);
    const value = fused ? run<tf.Tensor>(FUSED_KERNELS.gelu, { x: input }, { approximate }) : tf.tidy(() => geluComposed(input, approximate));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        fused ? run<tf.Tensor>(FUSED_KERNELS.geluGrad, { dy, x: saved[0] }, { approximate }) : geluGradComposed(dy, saved[0], approximate),
    };
  });
}

/**
 * LayerNorm over the last axis (biased variance). With the fused kernel it keeps x, the row
 * means and reciprocal deviations; elsewhere it is the stock-op formula.
 */
export function fusedLayerNorm(x: tf.Tensor, gamma: tf.Tensor | undefined, beta: tf.Tensor | undefined, eps: number): tf.Tensor {
  if (!backendHasKernel(FUSED_KERNELS.layerNorm) || x.dtype !== 'float32') {
    return tf.tidy(() => {
      const axis = x.rank - 1;
      const mean = tf.mean(x, axis, true);
      const centered = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centered), axis, true);
      const normed = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
      return gamma && beta ? tf.add(tf.mul(normed, gamma), beta) : normed;
    });
  }
  const affine = gamma != null && beta != null;
  return customOp(affine ? [x, gamma!, beta!] : [x], ([input, g, b], save) => {
    const [y, mean, rstd] = run<tf.Tensor[]>(FUSED_KERNELS.layerNorm, affine ? { x: input, gamma: g, beta: b } : { x: input }, { eps });
    save(affine ? [input, mean, rstd, g] : [input, mean, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sMean, sRstd, sGamma] = saved;
        const grads = run<tf.Tensor[]>(FUSED_KERNELS.layerNormGrad, { dy, x: sx, mean: sMean, rstd: sRstd, ...(affine ? { gamma: sGamma } : {}) });
        return affine ? grads : [grads[0]];
      },
    };
  });
}

/**
 * Mean softmax cross-entropy of logits [rows, cols] against int32 class ids [rows], without a
 * one-hot matrix. A label outside [0, cols) (e.g. −100, PyTorch's ignore_index) is left out
 * of the mean; with every row ignored the loss is 0.
 */
export function softmaxCrossEntropyWithLabels(logits: tf.Tensor, labels: tf.Tensor): tf.Scalar {
  const [rows, cols] = logits.shape;
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== rows) {
    throw new Error(`softmaxCrossEntropyWithLabels: logits must be [rows, classes] and labels [rows]; got [${logits.shape}] and [${labels.shape}]`);
  }
  return tf.tidy(() => {
    const rowLabels = labelWeights(labels, cols);
    const { ids, weights } = rowLabels;
    if (!fusedCrossEntropy(logits)) return rowLossAndGrad(logits, rowLabels, false).loss;
    return customOp<tf.Scalar>([logits], ([input], save) => {
      save([input, ids, weights]);
      const perRow = run<tf.Tensor>(FUSED_KERNELS.softmaxCrossEntropy, { logits: input, labels: ids });
      return {
        value: tf.sum(tf.mul(perRow, weights)) as tf.Scalar,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          run<tf.Tensor>(FUSED_KERNELS.softmaxCrossEntropyGrad, { logits: saved[0], labels: saved[1], dloss: tf.mul(saved[2], dy) }),
      };
    });
  });
}

/**
 * int32 class ids, which rows count (a label in [0, cols); one outside is ignored, like
 * -100), their number (at least 1), and each row's share of the mean loss (valid / count).
 */
function labelWeights(labels: tf.Tensor, cols: number): { ids: tf.Tensor; valid: tf.Tensor; count: tf.Tensor; weights: tf.Tensor } {
  const ids = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
  const valid = tf.cast(tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, cols)), 'float32');
  const count = tf.maximum(tf.sum(valid), 1);
  return { ids, valid, count, weights: tf.div(valid, count) };
}

const fusedCrossEntropy = (logits: tf.Tensor) => logits.dtype === 'float32' && backendHasKernel(FUSED_KERNELS.softmaxCrossEntropy);

/** One block of rows of labelWeights' result. */
interface RowLabels {
  ids: tf.Tensor;
  valid: tf.Tensor;
  count: tf.Tensor;
  weights: tf.Tensor;
}

/**
 * Σ weights·(−log softmax(logits)[label]) over rows, and with `withGrad` its gradient with
 * respect to the logits (weights·(softmax − onehot)): the fused kernels where the backend
 * has them, stock ops otherwise (the loss then summed before dividing by the count, as the
 * stock path always did, so its bits do not change).
 */
function rowLossAndGrad(logits: tf.Tensor, rows: RowLabels, withGrad: boolean): { loss: tf.Scalar; dlogits?: tf.Tensor } {
  const { ids, valid, count, weights } = rows;
  if (fusedCrossEntropy(logits)) {
    const loss = tf.sum(tf.mul(run<tf.Tensor>(FUSED_KERNELS.softmaxCrossEntropy, { logits, labels: ids }), weights)) as tf.Scalar;
    return { loss, dlogits: withGrad ? run<tf.Tensor>(FUSED_KERNELS.softmaxCrossEntropyGrad, { logits, labels: ids, dloss: weights }) : undefined };
  }
  const onehot = tf.oneHot(tf.mul(ids, tf.cast(valid, 'int32')), logits.shape[1]!);
  const logProbs = tf.logSoftmax(logits, -1);
  const loss = tf.div(tf.neg(tf.sum(tf.mul(tf.sum(tf.mul(logProbs, onehot), -1), valid))), count) as tf.Scalar;
  return { loss, dlogits: withGrad ? tf.mul(tf.sub(tf.exp(logProbs), onehot), tf.expandDims(weights, 1)) : undefined };
}

export interface LinearCrossEntropyOptions {
  /** Whether `weight` trains (full fine-tuning of a tied embedding): its gradient is then computed too. */
  weightTrains?: boolean;
  /** Largest logits block computed at once, in bytes (default 32 MiB). */
  chunkBytes?: number;
}

/**
 * Mean next-token (or any) cross-entropy of logits h·Wᵀ against `labels`, without ever
 * holding the [rows, vocab] logits: the rows go through in blocks, and under a gradient tape
 * each block's gradient (dh, and dW when the weight trains) is computed while its logits
 * exist, so the backward only scales what the forward left. GPT-2 small's LM head at batch
 * 4 × 128 would otherwise keep 103 MB of logits and make as much again of their gradient.
 * A label outside [0, vocab) is ignored, as softmaxCrossEntropyWithLabels ignores it.
 */
export function linearCrossEntropyWithLabels(h: tf.Tensor, weight: tf.Tensor, labels: tf.Tensor, options: LinearCrossEntropyOptions = {}): tf.Scalar {
  const [rows, dim] = h.shape;
  const [vocab, wdim] = weight.shape;
  if (h.rank !== 2 || weight.rank !== 2 || dim !== wdim || labels.rank !== 1 || labels.shape[0] !== rows) {
    throw new Error(`linearCrossEntropyWithLabels: h must be [rows, d], weight [vocab, d] and labels [rows]; got [${h.shape}], [${weight.shape}] and [${labels.shape}]`);
  }
  const block = Math.max(1, Math.floor((options.chunkBytes ?? 32 * 2 ** 20) / (4 * vocab)));
  const starts = Array.from({ length: Math.ceil(rows / block) }, (_, i) => i * block);
  const part = (t: tf.Tensor, start: number) => tf.slice(t, start, Math.min(block, rows - start));
  return tf.tidy(() => {
    const all = labelWeights(labels, vocab);
    const rowsOf = (start: number): RowLabels => ({ ids: part(all.ids, start), valid: part(all.valid, start), count: all.count, weights: part(all.weights, start) });
    // Outside a gradient tape (evaluation) only the loss is wanted.
    if (tf.engine().state.gradientDepth === 0) {
      return tf.addN(starts.map((start) => tf.tidy(() => rowLossAndGrad(tf.matMul(part(h, start), weight, false, true), rowsOf(start), false).loss))) as tf.Scalar;
    }
    const trains = options.weightTrains === true;
    return customOp<tf.Scalar>(trains ? [h, weight] : [h], ([x, w = weight], save) => {
      const losses: tf.Scalar[] = [];
      const dx: tf.Tensor[] = [];
      let dw: tf.Tensor | undefined;
      for (const start of starts) {
        tf.tidy(() => {
          const xs = part(x, start);
          const { loss, dlogits } = rowLossAndGrad(tf.matMul(xs, w, false, true), rowsOf(start), true);
          losses.push(tf.keep(loss));
          dx.push(tf.keep(tf.matMul(dlogits!, w)));
          if (trains) {
            const g = tf.matMul(dlogits!, xs, true, false);
            const next = dw ? tf.add(dw, g) : g;
            if (dw) dw.dispose();
            dw = tf.keep(next);
          }
        });
      }
      const value = tf.addN(losses) as tf.Scalar;
      const dh = dx.length === 1 ? dx[0] : tf.concat(dx, 0);
      save(dw ? [dh, dw] : [dh]);
      tf.dispose([...losses, ...(dx.length === 1 ? [] : dx), dh, ...(dw ? [dw] : [])]);
      return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => saved.map((g) => tf.mul(g, dy)) };
    });
  });
}

/**
 * x·Wᵀ + b (or x·W with `weightIsInOut`, GPT-2's Conv1D layout) for a weight that does not
 * train: the backward computes dx only, so x is not kept for a weight gradient nobody needs
 * (PyTorch's requires_grad=False). A trainable bias (BitFit) still gets its gradient.
 */
export function frozenWeightLinear(x2d: tf.Tensor2D, weight: tf.Tensor, bias: tf.Tensor | undefined, biasTrains: boolean, weightIsInOut: boolean): tf.Tensor2D {
  const forward = (x: tf.Tensor2D): tf.Tensor2D => {
    const y = tf.matMul(x, weight, false, !weightIsInOut);
    return (bias ? tf.add(y, bias) : y) as tf.Tensor2D;
  };
  const dx = (dy: tf.Tensor) => tf.matMul(dy, weight, false, weightIsInOut);
  if (bias && biasTrains) {
    return customOp([x2d, bias], ([x, b]) => ({
      value: tf.tidy(() => forward(x as tf.Tensor2D)),
      gradFunc: (dy) => [dx(dy), tf.reshape(tf.sum(dy, 0), b.shape)],
    }));
  }
  return customOp([x2d], ([x]) => ({ value: tf.tidy(() => forward(x as tf.Tensor2D)), gradFunc: (dy) => dx(dy) }));
}

export interface AttentionOptions {
  /** Multiplies q·kᵀ. */
  scale: number;
  /** Additive mask broadcast to the scores [b, h, s, t] (never differentiated). */
  mask?: tf.Tensor;
  /** Dropout on the probabilities: its rate and the seed its mask is drawn from (drawn again in the backward). */
  dropout?: { p: number; seed: number };
}

/**
 * softmax(q·kᵀ·scale + mask)·v for heads q [b, h, s, d], k and v [b, h, t, d]. Under a
 * gradient tape it keeps only q, k and v (which exist anyway) and recomputes the
 * probabilities in the backward, as FlashAttention does: the stock ops would keep the scores,
 * the probabilities and the dropped probabilities, three [b, h, s, t] tensors per layer
 * (114 MB for GPT-2 small at batch 4 × 128), for one more q·kᵀ and softmax per layer.
 */
export function attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: AttentionOptions): tf.Tensor4D {
  const { scale, dropout } = options;
  const probs = (qs: tf.Tensor, ks: tf.Tensor, mask: tf.Tensor | undefined) => {
    const scores = tf.mul(tf.matMul(qs, ks, false, true), scale);
    return tf.softmax(mask ? tf.add(scores, mask) : scores, -1);
  };
  const dropMask = (shape: number[]) => (dropout ? scaledDropoutMask(shape, dropout.p, dropout.seed) : undefined);
  const forward = (qs: tf.Tensor, ks: tf.Tensor, vs: tf.Tensor, mask: tf.Tensor | undefined) =>
    tf.tidy(() => {
      const p = probs(qs, ks, mask);
      const m = dropMask(p.shape);
      return tf.matMul(m ? tf.mul(p, m) : p, vs) as tf.Tensor4D;
    });
  if (tf.engine().state.gradientDepth === 0) return forward(q, k, v, options.mask);
  return customOp<tf.Tensor4D>([q, k, v], ([qs, ks, vs], save) => {
    // The mask is saved too: the caller's scope disposes it before the backward runs.
    save(options.mask ? [qs, ks, vs, options.mask] : [qs, ks, vs]);
    return {
      value: forward(qs, ks, vs, options.mask),
      gradFunc: (dy: tf.Tensor, [qs2, ks2, vs2, mask]: tf.Tensor[]) =>
        tf.tidy(() => {
          const p = probs(qs2, ks2, mask);
          const m = dropMask(p.shape);
          const dv = tf.matMul(m ? tf.mul(p, m) : p, dy, true, false);
          let dp = tf.matMul(dy, vs2, false, true);
          if (m) dp = tf.mul(dp, m);
          const ds = tf.mul(softmaxBackward(p, dp), scale);
          return [tf.matMul(ds, ks2), tf.matMul(ds, qs2, true, false), dv];
        }),
    };
  });
}

/** tf.softmax's backward over the last axis, y·(dy − Σ dy·y): the fused kernel where the backend has it. */
function softmaxBackward(y: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  if (y.dtype === 'float32' && backendHasKernel(FUSED_KERNELS.softmaxGrad)) return run<tf.Tensor>(FUSED_KERNELS.softmaxGrad, { y, dy });
  return tf.mul(y, tf.sub(dy, tf.sum(tf.mul(dy, y), -1, true)));
}
