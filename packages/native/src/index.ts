import { registerNativeBackend } from './provider';

export { ACTIVATION_CODES, BINARY_CODES, REDUCE_CODES, UNARY_CODES, addonPath, loadAddon, type Isa, type NativeActivation, type NativeAddon } from './addon';
export { planMatMul, type MatMulPlan } from './matmul-plan';
export { installNativeWasmKernels, nativeWasmKernels, nativeWasmKernelsInstalled, uninstallNativeWasmKernels, type NativeKernelOptions } from './wasm-kernels';
export { broadcastStrides, reductionView, stridedBinary, type StridedBinary } from './broadcast';
export { NATIVE_MIN_ELEMENTS } from './wasm-elementwise';
export { transposePlan } from './wasm-movement';
export { nativeBackendProvider, registerNativeBackend } from './provider';

// Loading the package is what makes `native` selectable (and first after tfjs-node in `auto`).
registerNativeBackend();
