import { registerNativeBackend } from './provider';

export { ACTIVATION_CODES, addonPath, loadAddon, type Isa, type NativeActivation, type NativeAddon } from './addon';
export { planMatMul, type MatMulPlan } from './matmul-plan';
export { installNativeWasmKernels, nativeWasmKernelsInstalled, uninstallNativeWasmKernels } from './wasm-kernels';
export { nativeBackendProvider, registerNativeBackend } from './provider';

// Loading the package is what makes `native` selectable (and first after tfjs-node in `auto`).
registerNativeBackend();
