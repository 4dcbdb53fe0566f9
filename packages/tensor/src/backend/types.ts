/** Names `initBackend` accepts, in the order `auto` tries the concrete ones. */
export const BACKEND_NAMES = ['auto', 'tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];
/** A concrete slot in the `auto` order; each slot is filled by one provider. */
export type BackendSlot = Exclude<BackendName, 'auto'>;
export const AUTO_ORDER: readonly BackendSlot[] = ['tfjs-node-gpu', 'tfjs-node', 'native', 'wasm', 'cpu'];

/** One candidate `initBackend` considered. `skipped`: absent here (silent); `error`: present but failed. */
export interface BackendAttempt {
  name: string;
  error?: string;
  skipped?: string;
}

/** What a run records about the backend it computed on. */
export interface BackendInfo {
  /** The slot that was activated (`tfjs-node`, `wasm`, `cpu`, …). */
  name: string;
  /** What was asked for, after the LEANTUNE_BACKEND override. */
  requested: string;
  threads: number;
  simd: boolean;
  tried: BackendAttempt[];
}

export interface InitBackendOptions {
  backend?: BackendName;
  /** Worker threads for backends that take a count (wasm). Default: the machine's cores. */
  threads?: number;
  /** Bytes (or '6g') tensors may take, for backends that keep a budget (native); default: LEANTUNE_MEMORY_LIMIT, else 90% of memory. */
  memoryLimit?: number | string;
  log?: (msg: string) => void;
}

export interface ProviderContext {
  threads: number;
  memoryLimit?: number | string;
  log: (msg: string) => void;
}

/** What a provider reports once its backend is the active tfjs backend. */
export interface ActivatedBackend {
  /** The name tfjs-core knows the backend by (`tensorflow` for tfjs-node). */
  tfjsName: string;
  threads: number;
  simd: boolean;
}

/**
 * Fills one slot of the backend order. `activate` registers its backend on our tfjs-core,
 * makes it the active one and reports it; it throws `BackendUnavailableError` when the
 * backend is simply not present on this machine, and any other error when it is present
 * but broken.
 */
export interface BackendProvider {
  activate(context: ProviderContext): Promise<ActivatedBackend>;
  /** Undoes what activate changed in shared state (kernels put on another backend) when another backend takes over. */
  deactivate?(): void;
}

/** "Not installed here": `auto` skips it silently; an explicit request reports `reason`. */
export class BackendUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'BackendUnavailableError';
  }
}

/** What an allocation that did not fit asked for, and the state it met. */
export interface OutOfMemoryDetails {
  /** The backend that refused (`native`). */
  backend: string;
  /** Kernel (or `tensor creation`) that asked; shape and dtype of its output when known. */
  kernel: string;
  shape?: readonly number[];
  dtype?: string;
  requestedBytes: number;
  /** Tensor bytes and tensors live when it was asked (tf.memory()). */
  liveBytes: number;
  liveTensors: number;
  /** The budget, and where it came from (`LEANTUNE_MEMORY_LIMIT=6g`, `90% of the cgroup's memory.max`). */
  limitBytes: number;
  limitSource: string;
  /** The allocation itself failed (RangeError) rather than the budget refusing it. */
  allocationFailed?: boolean;
}

const mb = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(1)} MB`;

/**
 * A tensor did not fit in memory. Thrown instead of letting the process stall or die, so a
 * run can fail with the sizes and the ways out; train and cli recognise it by class.
 */
export class OutOfMemoryError extends Error {
  constructor(readonly details: OutOfMemoryDetails) {
    const d = details;
    const what = d.shape == null ? `by ${d.kernel}` : `by ${d.kernel} for a${d.dtype ? ` ${d.dtype}` : ''} [${d.shape.join(', ')}] output`;
    const cause = d.allocationFailed ? 'the allocation failed' : 'that would pass the memory limit';
    super(
      `out of memory on the ${d.backend} backend: ${mb(d.requestedBytes)} asked ${what}, and ${cause} ` +
        `(${mb(d.liveBytes)} of tensor data live, ${d.liveTensors} tensors per tf.memory(); limit ${mb(d.limitBytes)}, ${d.limitSource}). ` +
        'Ways out: a smaller batchSize (gradAccum keeps the effective batch), train.gradientCheckpointing, ' +
        'a LoRA/PEFT method instead of full fine-tuning, or LEANTUNE_MEMORY_LIMIT (bytes, or e.g. 6g) if the machine has more memory to give.',
    );
    this.name = 'OutOfMemoryError';
  }
}
