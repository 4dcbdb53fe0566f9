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
  log?: (msg: string) => void;
}

export interface ProviderContext {
  threads: number;
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
