import { registerNativeBackend } from './provider';

export { ACTIVATION_CODES, BINARY_CODES, QUANT_CODES, REDUCE_CODES, UNARY_CODES, addonPath, loadAddon, type Isa, type NativeActivation, type NativeAddon } from './addon';
export { NATIVE_BACKEND_NAME, NativeBackend, type NativeBackendOptions } from './backend';
export { NATIVE_KERNEL_NAMES, registerNativeKernels, type KernelMaker } from './kernels';
export { DEFAULT_MEMORY_SHARE, MEMORY_LIMIT_ENV, cgroupMemoryMax, parseMemorySize, resolveMemoryLimit, type MemoryLimit } from './memory-limit';
export { planMatMul, type MatMulPlan } from './matmul-plan';
export { broadcastStrides, reductionView, stridedBinary, type StridedBinary } from './broadcast';
export { NATIVE_MIN_ELEMENTS } from './elementwise-kernels';
export { slicePlan, transposePlan } from './movement-kernels';
export { BufferPool, POOL_IDLE_REQUESTS, POOL_MIN_ELEMENTS } from './buffer-pool';
export { nativeBackendProvider, registerNativeBackend, registerNativeTfjsBackend } from './provider';

// Loading the package is what makes `native` selectable (and first after tfjs-node in `auto`).
registerNativeBackend();
