import { FUSED_KERNELS, tf, type AdamWStep, type RandomFill } from '@leantune/tensor';
import type { NativeBackend } from './backend';

/**
 * The fused training kernels @leantune/tensor's ops ask for (FUSED_KERNELS: GELU, LayerNorm,
 * softmax cross-entropy from class ids, each with its backward; clip's backward), and the backend
 * capabilities AdamW and init use (in-place AdamW, seeded fills). No cpu kernel stands
 * behind them: on other backends the ops use stock tfjs ops instead.
 */

type Infos = Record<string, tf.TensorInfo | undefined>;
type Attrs = Record<string, unknown>;

/** rows × cols with cols the last axis. */
function rowsCols(shape: number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 1;
  return [cols === 0 ? 0 : tf.util.sizeFromShape(shape) / cols, cols];
}

function output(backend: NativeBackend, kernel: string, shape: number[]): { out: Float32Array; info: () => tf.TensorInfo } {
  const out = backend.allocate(kernel, shape, tf.util.sizeFromShape(shape));
  return { out, info: () => backend.makeTensorInfo(shape.slice(), 'float32', out) };
}

function gelu(args: { inputs: Infos; backend: unknown; attrs?: Attrs }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const x = args.inputs.x!;
  const y = output(backend, FUSED_KERNELS.gelu, x.shape);
  backend.addon.gelu(backend.f32(x), y.out, Boolean(args.attrs?.approximate));
  return y.info();
}

function geluGrad(args: { inputs: Infos; backend: unknown; attrs?: Attrs }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const dx = output(backend, FUSED_KERNELS.geluGrad, x.shape);
  backend.addon.geluGrad(backend.f32(x), backend.f32(dy), dx.out, Boolean(args.attrs?.approximate));
  return dx.info();
}

function layerNorm(args: { inputs: Infos; backend: unknown; attrs?: Attrs }): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { x, gamma, beta } = args.inputs;
  const [rows, cols] = rowsCols(x!.shape);
  const y = output(backend, FUSED_KERNELS.layerNorm, x!.shape);
  const mean = output(backend, FUSED_KERNELS.layerNorm, [rows]);
  const rstd = output(backend, FUSED_KERNELS.layerNorm, [rows]);
  const f = (t: tf.TensorInfo | undefined) => (t ? backend.f32(t) : null);
  backend.addon.layerNorm(backend.f32(x!), f(gamma), f(beta), y.out, mean.out, rstd.out, rows, cols, Number(args.attrs?.eps));
  return [y.info(), mean.info(), rstd.info()];
}

function layerNormGrad(args: { inputs: Infos; backend: unknown }): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { dy, x, mean, rstd, gamma } = args.inputs;
  const [rows, cols] = rowsCols(x!.shape);
  const dx = output(backend, FUSED_KERNELS.layerNormGrad, x!.shape);
  const dgamma = gamma ? output(backend, FUSED_KERNELS.layerNormGrad, gamma.shape) : undefined;
  const dbeta = gamma ? output(backend, FUSED_KERNELS.layerNormGrad, gamma.shape) : undefined;
  backend.addon.layerNormGrad(backend.f32(dy!), backend.f32(x!), gamma ? backend.f32(gamma) : null, backend.f32(mean!), backend.f32(rstd!),
    dx.out, dgamma?.out ?? null, dbeta?.out ?? null, rows, cols);
  return dgamma && dbeta ? [dx.info(), dgamma.info(), dbeta.info()] : [dx.info()];
}

function softmaxCrossEntropy(args: { inputs: Infos; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { logits, labels } = args.inputs as Record<string, tf.TensorInfo>;
  const [rows, cols] = rowsCols(logits.shape);
  const loss = output(backend, FUSED_KERNELS.softmaxCrossEntropy, [rows]);
  backend.addon.softmaxCrossEntropy(backend.f32(logits), backend.i32(labels), loss.out, rows, cols);
  return loss.info();
}

function softmaxCrossEntropyGrad(args: { inputs: Infos; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { logits, labels, dloss } = args.inputs as Record<string, tf.TensorInfo>;
  const [rows, cols] = rowsCols(logits.shape);
  const dlogits = output(backend, FUSED_KERNELS.softmaxCrossEntropyGrad, logits.shape);
  backend.addon.softmaxCrossEntropyGrad(backend.f32(logits), backend.i32(labels), backend.f32(dloss), dlogits.out, rows, cols);
  return dlogits.info();
}

function softmaxGrad(args: { inputs: Infos; backend: unknown }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { y, dy } = args.inputs as Record<string, tf.TensorInfo>;
  const [rows, cols] = rowsCols(y.shape);
  const dx = output(backend, FUSED_KERNELS.softmaxGrad, y.shape);
  backend.addon.softmaxGrad(backend.f32(y), backend.f32(dy), dx.out, rows, cols);
  return dx.info();
}

/** dy where min ≤ x ≤ max, else 0: one pass (a NaN x fails both comparisons, as in tfjs's where form). */
function clipGrad(args: { inputs: Infos; backend: unknown; attrs?: Attrs }): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x, dy } = args.inputs as Record<string, tf.TensorInfo>;
  if (!tf.util.arraysEqual(x.shape, dy.shape)) throw new Error(`${FUSED_KERNELS.clipGrad}: x [${x.shape}] and dy [${dy.shape}] differ in shape`);
  const min = Number(args.attrs?.min);
  const max = Number(args.attrs?.max);
  const xs = backend.f32(x);
  const ds = backend.f32(dy);
  const dx = output(backend, FUSED_KERNELS.clipGrad, x.shape);
  const out = dx.out;
  for (let i = 0; i < out.length; i++) {
    const v = xs[i];
    out[i] = v >= min && v <= max ? ds[i] : 0;
  }
  return dx.info();
}

export const FUSED_NATIVE_KERNELS: ReadonlyArray<[string, tf.KernelFunc]> = [
  [FUSED_KERNELS.gelu, gelu as unknown as tf.KernelFunc],
  [FUSED_KERNELS.geluGrad, geluGrad as unknown as tf.KernelFunc],
  [FUSED_KERNELS.layerNorm, layerNorm as unknown as tf.KernelFunc],
  [FUSED_KERNELS.layerNormGrad, layerNormGrad as unknown as tf.KernelFunc],
  [FUSED_KERNELS.softmaxCrossEntropy, softmaxCrossEntropy as unknown as tf.KernelFunc],
  [FUSED_KERNELS.softmaxCrossEntropyGrad, softmaxCrossEntropyGrad as unknown as tf.KernelFunc],
  [FUSED_KERNELS.softmaxGrad, softmaxGrad as unknown as tf.KernelFunc],
  [FUSED_KERNELS.clipGrad, clipGrad as unknown as tf.KernelFunc],
];

/**
 * A float32 variable's own storage, when nothing else can see it: one reference to its data,
 * a whole buffer (not a view into another tensor's), no stored view of it (a cpu Slice), and
 * not a caller's array (tf.tensor's input, dataSync's output). Otherwise the update is not in
 * place: it makes a new buffer, the backend's own, and the next step is in place on that.
 */
function ownStorage(backend: NativeBackend, t: tf.Tensor): Float32Array | undefined {
  if (t.dtype !== 'float32' || backend.refCount(t.dataId) !== 1) return undefined;
  const values = backend.data.get(t.dataId).values;
  if (!(values instanceof Float32Array) || values.byteOffset !== 0 || values.buffer.byteLength !== values.byteLength) return undefined;
  return backend.viewedElsewhere(values) || backend.isForeign(values) ? undefined : values;
}

/** AdamW for one parameter, in place on its storage and its two moments (NativeBackend.adamwInPlace). */
export function adamwInPlace(backend: NativeBackend, param: tf.Variable, grad: tf.Tensor, m: tf.Variable, v: tf.Variable, step: AdamWStep): boolean {
  if (grad.dtype !== 'float32' || param.size !== grad.size) return false;
  const p = ownStorage(backend, param);
  const ms = ownStorage(backend, m);
  const vs = ownStorage(backend, v);
  if (!p || !ms || !vs) return false;
  backend.addon.adamw(p, backend.f32(grad), ms, vs, step.lr, step.beta1, step.beta2, step.eps, step.weightDecay, step.biasCorrection1, step.biasCorrection2);
  return true;
}

/** A seeded fill from the addon's counter-based generator (NativeBackend.randomFill). */
export function randomFill(backend: NativeBackend, shape: readonly number[], fill: RandomFill): tf.Tensor {
  const size = tf.util.sizeFromShape([...shape]);
  const out = backend.allocate(`random ${fill.kind}`, [...shape], size);
  const hi = Math.floor(fill.seed / 2 ** 32) >>> 0;
  const lo = fill.seed >>> 0;
  if (fill.kind === 'uniform') backend.addon.fillUniform(out, hi, lo, fill.a, fill.b);
  else backend.addon.fillNormal(out, hi, lo, fill.a, fill.b);
  return tf.engine().makeTensorFromTensorInfo(backend.makeTensorInfo([...shape], 'float32', out), backend);
}
