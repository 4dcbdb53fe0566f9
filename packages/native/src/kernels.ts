import { tf } from '@leantune/tensor';
import { NATIVE_BACKEND_NAME, type NativeBackend } from './backend';
import { CLIP_KERNELS } from './clip-kernels';
import { CONV_KERNELS } from './conv-kernels';
import { DEPTHWISE_KERNELS } from './depthwise-kernels';
import { ELEMENTWISE_KERNELS } from './elementwise-kernels';
import { FUSED_NATIVE_KERNELS } from './fused-kernels';
import { MATMUL_KERNELS } from './matmul-kernels';
import { MOVEMENT_KERNELS } from './movement-kernels';

/** Makes a native kernel from the cpu kernel it falls back to (small tensors, other dtypes). */
export type KernelMaker = (fallback: tf.KernelFunc) => tf.KernelFunc;

const NATIVE_KERNELS: ReadonlyMap<string, KernelMaker> = new Map([...MATMUL_KERNELS, ...CONV_KERNELS, ...DEPTHWISE_KERNELS, ...CLIP_KERNELS, ...ELEMENTWISE_KERNELS, ...MOVEMENT_KERNELS]);

/** Kernels the addon computes (above NATIVE_MIN_ELEMENTS, for float32). */
export const NATIVE_KERNEL_NAMES: readonly string[] = [...NATIVE_KERNELS.keys()];

/** Any kernel, so that an allocation failing inside it reads as an OutOfMemoryError naming it. */
function guarded(kernelName: string, kernelFunc: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    try {
      return kernelFunc(args);
    } catch (error) {
      throw (args.backend as NativeBackend).explainFailure(error, kernelName);
    }
  };
}

/**
 * Registers for 'native' every kernel registered for 'cpu' now (including @leantune/tensor's
 * UnsortedSegmentSum) that 'native' lacks: the addon's where it has one, the cpu kernel
 * otherwise, since NativeBackend stores tensors exactly as the cpu backend does. Gradients
 * are backend-agnostic. Returns the names registered.
 */
export function registerNativeKernels(): string[] {
  const added: string[] = [];
  for (const config of tf.getKernelsForBackend('cpu')) {
    if (tf.getKernel(config.kernelName, NATIVE_BACKEND_NAME) != null) continue;
    const make = NATIVE_KERNELS.get(config.kernelName);
    const kernelFunc = make == null ? config.kernelFunc : make(config.kernelFunc);
    tf.registerKernel({ ...config, backendName: NATIVE_BACKEND_NAME, kernelFunc: guarded(config.kernelName, kernelFunc) });
    added.push(config.kernelName);
  }
  for (const [kernelName, kernelFunc] of FUSED_NATIVE_KERNELS) {
    if (tf.getKernel(kernelName, NATIVE_BACKEND_NAME) != null) continue;
    tf.registerKernel({ kernelName, backendName: NATIVE_BACKEND_NAME, kernelFunc: guarded(kernelName, kernelFunc) });
    added.push(kernelName);
  }
  return added;
}
