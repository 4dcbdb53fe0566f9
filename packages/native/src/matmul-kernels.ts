import { tf, type QuantizedWeight } from '@leantune/tensor';
import { ACTIVATION_CODES, QUANT_CODES, type NativeActivation } from './addon';
import type { NativeBackend } from './backend';
import type { KernelMaker } from './kernels';
import { planMatMul } from './matmul-plan';

/**
 * BatchMatMul and _FusedMatMul by the native GEMM: operands are read in place (the packing
 * reads either layout, so no transpose is materialised) and batches, broadcast included, run
 * in one call. Cases it does not cover (other dtypes, prelu, a bias that is not one value
 * per column) go to the cpu backend's kernel.
 */

interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}
interface FusedAttrs extends MatMulAttrs {
  activation: string;
  leakyreluAlpha?: number;
}

function isNativeActivation(name: string): name is NativeActivation {
  return Object.prototype.hasOwnProperty.call(ACTIVATION_CODES, name);
}

/** A bias the epilogue can add: one value per output column ([n], [1, n], …). */
function isColumnBias(bias: tf.TensorInfo | undefined, n: number): boolean {
  if (bias == null) return true;
  const shape = bias.shape;
  return bias.dtype === 'float32' && shape.length >= 1 && shape[shape.length - 1] === n && tf.util.sizeFromShape(shape) === n;
}

function product(backend: NativeBackend, kernelName: string, a: tf.TensorInfo, b: tf.TensorInfo, attrs: MatMulAttrs,
  bias: tf.TensorInfo | undefined, activation: number, alpha: number): tf.TensorInfo {
  const plan = planMatMul(kernelName, a.shape, b.shape, attrs.transposeA, attrs.transposeB);
  const out = backend.allocate(kernelName, plan.outShape, plan.batch * plan.m * plan.n);
  if (out.length > 0) {
    backend.addon.matmul(backend.f32(a), backend.f32(b), out, plan.m, plan.n, plan.k, attrs.transposeA, attrs.transposeB,
      plan.batch, plan.aIndex, plan.bIndex, bias == null ? null : backend.f32(bias), activation, alpha);
  }
  return backend.makeTensorInfo(plan.outShape, 'float32', out);
}

const batchMatMul: KernelMaker = (fallback) => (args) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
  return product(args.backend as NativeBackend, tf.BatchMatMul, a, b, args.attrs as unknown as MatMulAttrs, undefined, ACTIVATION_CODES.linear, 0);
};

const fusedMatMul: KernelMaker = (fallback) => (args) => {
  const { a, b, bias } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
  const attrs = args.attrs as unknown as FusedAttrs;
  const n = attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
  const native = a.dtype === 'float32' && b.dtype === 'float32' && isNativeActivation(attrs.activation) && isColumnBias(bias, n);
  if (!native) return fallback(args);
  const code = ACTIVATION_CODES[attrs.activation as NativeActivation];
  return product(args.backend as NativeBackend, tf._FusedMatMul, a, b, attrs, bias, code, attrs.leakyreluAlpha ?? 0.2);
};

export const MATMUL_KERNELS: ReadonlyArray<[string, KernelMaker]> = [
  [tf.BatchMatMul, batchMatMul],
  [tf._FusedMatMul, fusedMatMul],
];

/**
 * The `quantizedMatMul` capability: x [m, in]·Wᵀ (transposeW) or x [m, out]·W for a
 * quantized W [out, in] (@leantune/tensor's QuantizedWeight), by the addon's GEMM, which
 * dequantizes W while packing it (csrc/quant.cc): the fp32 W is never formed.
 */
export function quantMatMul(backend: NativeBackend, x: tf.Tensor2D, w: QuantizedWeight, transposeW: boolean): tf.Tensor2D | undefined {
  if (x.dtype !== 'float32' || x.rank !== 2) return undefined;
  const [m, k] = x.shape;
  const n = transposeW ? w.rows : w.cols;
  if (k !== (transposeW ? w.cols : w.rows)) {
    throw new Error(`quantizedMatMul: x [${x.shape}] does not fit a weight [${w.rows}, ${w.cols}]${transposeW ? ' transposed' : ''}`);
  }
  const out = backend.allocate('quantizedMatMul', [m, n], m * n);
  if (out.length > 0) {
    const input = backend.f32(x);
    const dq = w.doubleQuant;
    backend.addon.quantMatmul(input, out, m, n, k, transposeW, QUANT_CODES[w.format], w.data, w.scales ?? null, dq?.codes ?? null, dq?.groupScales ?? null, dq?.offset ?? 0, w.rows, w.cols);
  }
  return tf.engine().makeTensorFromTensorInfo(backend.makeTensorInfo([m, n], 'float32', out), backend) as tf.Tensor2D;
}
