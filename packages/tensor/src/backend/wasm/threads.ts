import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type * as TfWasm from '@tensorflow/tfjs-backend-wasm';

/**
 * Multi-threaded tfjs-backend-wasm under Node.
 *
 * tfjs 4.22 turns wasm threads off in Node (`WASM_HAS_MULTITHREAD_SUPPORT` is false when
 * IS_NODE), and flipping the flag is not enough:
 * - its `init()` hands emscripten a `blob:` URL for the pthread worker and a Blob holding
 *   the bundle's factory source; Node's worker_threads cannot load a `blob:` URL, and that
 *   source refers to the bundle's private `require$$0…` names;
 * - the C++ side caps the XNNPACK pool at `emscripten_num_logical_cores() / 2` (1 on a
 *   2-core machine), read once when the module starts.
 * So we build the threaded module ourselves from the files tfjs ships in `wasm-out/`: the
 * worker is a file of ours (`pthread-worker.js`), the main script is given as a file path,
 * and a custom `instantiateWasm` reports `2 × threads` cores so the cap lets `threads`
 * through. Nothing inside node_modules is modified.
 */

/** The C++ pool cap (`max_num_threads`), also the size of emscripten's pre-spawned worker pool. */
export const MAX_WASM_THREADS = 8;
const WORKER_FILE = 'pthread-worker.js';

type TfWasmModule = typeof TfWasm;
type WasmModule = ConstructorParameters<TfWasmModule['BackendWasm']>[0];

interface EmscriptenImports {
  env: Record<string, unknown>;
}
/** The part of the WebAssembly global we use (lib.dom, which types it, is not in our lib). */
interface WebAssemblyApi {
  instantiate(bytes: Uint8Array, imports: EmscriptenImports): Promise<{ instance: object; module: object }>;
}
const webAssembly = (globalThis as unknown as { WebAssembly: WebAssemblyApi }).WebAssembly;
interface PThreadPool {
  runningWorkers: Worker[];
  unusedWorkers: Worker[];
}
interface ThreadedModule {
  cwrap(name: string, returns: string | null, args: string[]): (...args: unknown[]) => unknown;
  PThread?: PThreadPool;
}
interface FactoryConfig {
  mainScriptUrlOrBlob: string;
  locateFile(file: string): string;
  instantiateWasm(imports: EmscriptenImports, receive: (instance: object, module: object) => void): object;
  onAbort(reason: unknown): void;
}
type ThreadedFactory = (config: FactoryConfig) => Promise<ThreadedModule>;

/** The worker ships as a plain .js asset in src/; from dist/ we look back into src/. */
export function pthreadWorkerPath(): string {
  const candidates = [
    path.join(__dirname, WORKER_FILE),
    path.resolve(__dirname, '..', '..', '..', 'src', 'backend', 'wasm', WORKER_FILE),
  ];
  const found = candidates.find((file) => fs.existsSync(file));
  if (found == null) {
    throw new Error(`wasm threads: worker file ${WORKER_FILE} not found (looked in ${candidates.join(', ')}); reinstall @leantune/tensor or pass threads: 1`);
  }
  return found;
}

function wasmOutDir(): string {
  return path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out');
}

/** emscripten installs process-wide handlers that rethrow; they are no business of a library. */
function removeListenersAddedBy<T>(work: () => Promise<T>): Promise<T> {
  const emitter = process as unknown as NodeJS.EventEmitter;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = events.map((event) => new Set(emitter.listeners(event)));
  const restore = (): void =>
    events.forEach((event, i) => {
      for (const listener of emitter.listeners(event)) {
        if (!before[i].has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    });
  return work().finally(restore);
}

async function createThreadedModule(threads: number): Promise<ThreadedModule> {
  const outDir = wasmOutDir();
  const mainScript = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  const binary = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const worker = pthreadWorkerPath();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const factory = require(mainScript) as ThreadedFactory;
  let fail: (reason: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => (fail = reject));
  const config: FactoryConfig = {
    mainScriptUrlOrBlob: mainScript,
    locateFile: (file) => (file.endsWith('.worker.js') ? worker : path.join(outDir, file)),
    instantiateWasm(imports, receive) {
      if (typeof imports.env.emscripten_num_logical_cores !== 'function') {
        fail(new Error('wasm threads: this tfjs-backend-wasm build has no emscripten_num_logical_cores import to patch'));
        return {};
      }
      // The pool is capped at cores / 2 (see above): report enough cores for `threads`.
      imports.env.emscripten_num_logical_cores = () => 2 * threads;
      webAssembly
        .instantiate(fs.readFileSync(binary), imports)
        .then(({ instance, module }) => receive(instance, module))
        .catch(fail);
      return {};
    },
    onAbort: (reason) => fail(new Error(`wasm threads: module aborted: ${String(reason)}`)),
  };
  return removeListenersAddedBy(() => Promise.race([factory(config), failed]));
}

function addTfjsBridge(module: ThreadedModule): WasmModule {
  // The same bridge tfjs-backend-wasm's own init() attaches; BackendWasm calls these.
  const bridge = {
    init: module.cwrap('init', null, []),
    initWithThreadsCount: module.cwrap('init_with_threads_count', null, ['number']),
    getThreadsCount: module.cwrap('get_threads_count', 'number', []),
    registerTensor: module.cwrap('register_tensor', null, ['number', 'number', 'number']),
    disposeData: module.cwrap('dispose_data', null, ['number']),
    dispose: module.cwrap('dispose', null, []),
  };
  return Object.assign(module, { tfjs: bridge }) as unknown as WasmModule;
}

/** Workers that run pool threads are ref'd by emscripten and would keep Node from exiting. */
function releaseWorkers(module: ThreadedModule): void {
  const pool = module.PThread;
  if (pool == null) return;
  for (const worker of pool.runningWorkers) worker.unref();
  // The C++ pool is created once, at init; spare pre-spawned workers only hold memory.
  for (const worker of pool.unusedWorkers.splice(0)) void worker.terminate();
}

/** Builds a BackendWasm on the threaded SIMD binary with exactly `threads` threads. */
export async function createThreadedWasmBackend(wasm: TfWasmModule, threads: number): Promise<TfWasm.BackendWasm> {
  const module = addTfjsBridge(await createThreadedModule(threads));
  wasm.setThreadsCount(threads);
  const backend = new wasm.BackendWasm(module);
  releaseWorkers(module as unknown as ThreadedModule);
  return backend;
}

export interface WasmFactoryChoice {
  threads: number;
  log: (msg: string) => void;
}

let installedThreads: number | null = null;
/** tfjs-backend-wasm's own factory: the single-threaded path and our fallback. */
let stockFactory: (() => tf.KernelBackend | Promise<tf.KernelBackend>) | null = null;

/**
 * Makes `tf.setBackend('wasm')` build the threaded backend. Only possible before the wasm
 * backend is first instantiated: replacing a live one would drop every tensor on it.
 * Returns false (and leaves tfjs as it is) when that moment has passed.
 */
export function useThreadedWasmFactory(wasm: TfWasmModule, choice: WasmFactoryChoice): boolean {
  if (tf.engine().registry.wasm != null) {
    if (installedThreads !== choice.threads) {
      choice.log(`wasm backend already running with ${wasm.getThreadsCount()} thread(s); threads=${choice.threads} ignored`);
    }
    return false;
  }
  if (installedThreads === choice.threads) return true;
  if (installedThreads == null) stockFactory = tf.findBackendFactory('wasm');
  if (tf.engine().registryFactory.wasm != null) tf.removeBackend('wasm');
  tf.registerBackend(
    'wasm',
    async () => {
      if (choice.threads > 1 && typeof SharedArrayBuffer === 'function') {
        try {
          return await createThreadedWasmBackend(wasm, choice.threads);
        } catch (error) {
          choice.log(`wasm threads unavailable, using 1 thread: ${(error as Error).message}`);
        }
      }
      wasm.setThreadsCount(1);
      const stock = stockFactory;
      if (stock == null) throw new Error('tfjs-backend-wasm registered no wasm backend factory');
      return removeListenersAddedBy(async () => stock());
    },
    2,
  );
  installedThreads = choice.threads;
  return true;
}
