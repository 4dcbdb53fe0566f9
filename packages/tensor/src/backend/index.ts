export {
  AUTO_ORDER,
  BACKEND_NAMES,
  BackendUnavailableError,
  OutOfMemoryError,
  type OutOfMemoryDetails,
  type ActivatedBackend,
  type BackendAttempt,
  type BackendInfo,
  type BackendName,
  type BackendProvider,
  type BackendSlot,
  type InitBackendOptions,
  type ProviderContext,
} from './types';
export { createTfjsNodeProvider } from './tfjs-node';
export { createNativeProvider, NATIVE_PACKAGE } from './providers';
export { BACKEND_ENV, describeBackend, formatBackendInfo, initBackend, registerBackendProvider, requestedBackend } from './select';
export { installWasmTrainingKernels, uninstallWasmTrainingKernels, wasmTrainingKernelsInstalled } from './wasm/install';
export { MAX_WASM_THREADS } from './wasm/threads';
export { broadcastBatchIndex, planMatMul as planBatchMatMul, type MatMulPlan as BatchMatMulPlan } from './wasm/batch-matmul';
export { backendCapability, type AdamWStep, type BackendCapabilities, type RandomFill } from './capabilities';
