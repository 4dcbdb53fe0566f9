import * as tf from '@tensorflow/tfjs-core';

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
 */
export const FUSED_KERNELS = {
  gelu: 'LeantuneGelu',
  geluGrad: 'LeantuneGeluGrad',
  layerNorm: 'LeantuneLayerNorm',
  layerNormGrad: 'LeantuneLayerNormGrad',
  softmaxCrossEntropy: 'LeantuneSoftmaxCrossEntropy',
  softmaxCrossEntropyGrad: 'LeantuneSoftmaxCrossEntropyGrad',
  softmaxGrad: 'LeantuneSoftmaxGrad',
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
    const ids = labels.dtype === 'int32' ? labels : tf.cast(labels, 'int32');
    const valid = tf.cast(tf.logicalAnd(tf.greaterEqual(ids, 0), tf.less(ids, cols)), 'float32');
    const count = tf.maximum(tf.sum(valid), 1);
    if (!backendHasKernel(FUSED_KERNELS.softmaxCrossEntropy) || logits.dtype !== 'float32') {
      const safe = tf.mul(ids, tf.cast(valid, 'int32'));
      const picked = tf.sum(tf.mul(tf.logSoftmax(logits, -1), tf.oneHot(safe, cols)), -1);
      return tf.div(tf.neg(tf.sum(tf.mul(picked, valid))), count) as tf.Scalar;
    }
    // Each row's share of the mean; saved with the labels, since the backward runs after this tidy.
    const weights = tf.div(valid, count);
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
