import { tf } from '@leantune/tensor';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { ACTIVATION_CODES, type NativeActivation, type NativeAddon } from './addon';
import { planMatMul } from './matmul-plan';
import { replaceWasmKernel } from './wasm-registry';

/**
 * BatchMatMul and _FusedMatMul on the wasm backend, computed by the native GEMM straight
 * on the wasm heap: operands and output are Float32Array views over the module's memory
 * (a SharedArrayBuffer with wasm threads), so nothing is copied and no transpose is
 * materialised (the GEMM's packing reads either layout). Cases the native path does not
 * cover (other dtypes, prelu, a bias that is not one value per column) go to the kernel
 * that was registered before, i.e. @leantune/tensor's XNNPACK wrapper.
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

function product(addon: NativeAddon, backend: BackendWasm, kernelName: string, a: tf.TensorInfo, b: tf.TensorInfo, attrs: MatMulAttrs,
  bias: tf.TensorInfo | undefined, activation: NativeActivation, alpha: number): tf.TensorInfo {
  const plan = planMatMul(kernelName, a.shape, b.shape, attrs.transposeA, attrs.transposeB);
  const out = backend.makeOutput(plan.outShape, 'float32');
  if (plan.batch * plan.m * plan.n === 0) return out;
  // Views after the allocation: growing wasm memory replaces the heap's buffer.
  const view = (info: tf.TensorInfo): Float32Array => backend.typedArrayFromHeap(info) as Float32Array;
  try {
    addon.matmul(view(a), view(b), view(out), plan.m, plan.n, plan.k, attrs.transposeA, attrs.transposeB,
      plan.batch, plan.aIndex, plan.bIndex, bias == null ? null : view(bias), ACTIVATION_CODES[activation], alpha);
  } catch (error) {
    backend.disposeData(out.dataId);
    throw error;
  }
  return out;
}

function nativeBatchMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return fallback(args);
    const attrs = args.attrs as unknown as MatMulAttrs;
    return product(addon, args.backend as BackendWasm, tf.BatchMatMul, a, b, attrs, undefined, 'linear', 0);
  };
}

function nativeFusedMatMul(addon: NativeAddon, fallback: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { a, b, bias } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
    const attrs = args.attrs as unknown as FusedAttrs;
    const n = attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
    const native = a.dtype === 'float32' && b.dtype === 'float32' && isNativeActivation(attrs.activation) && isColumnBias(bias, n);
    if (!native) return fallback(args);
    return product(addon, args.backend as BackendWasm, tf._FusedMatMul, a, b, attrs, bias, attrs.activation as NativeActivation, attrs.leakyreluAlpha ?? 0.2);
  };
}

/** Native BatchMatMul and _FusedMatMul in front of the kernels registered now. */
export function installNativeMatMul(addon: NativeAddon): void {
  replaceWasmKernel(tf.BatchMatMul, (fallback) => nativeBatchMatMul(addon, fallback));
  replaceWasmKernel(tf._FusedMatMul, (fallback) => nativeFusedMatMul(addon, fallback));
}
