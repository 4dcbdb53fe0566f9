import * as tf from '@tensorflow/tfjs-core';
import { cores } from './provider-utils';
import { builtInProviders } from './providers';
import {
  AUTO_ORDER,
  BACKEND_NAMES,
  type BackendAttempt,
  type BackendInfo,
  type BackendName,
  type BackendProvider,
  type BackendSlot,
  BackendUnavailableError,
  type InitBackendOptions,
} from './types';

/** Environment variable that overrides `initBackend({ backend })`. */
export const BACKEND_ENV = 'LEANTUNE_BACKEND';

const providers = builtInProviders();
let active: { info: BackendInfo; tfjsName: string; provider: BackendProvider } | null = null;

function isBackendName(name: string): name is BackendName {
  return (BACKEND_NAMES as readonly string[]).includes(name);
}

/**
 * Fills a slot of the backend order, e.g. `native` from a package with an accelerated CPU
 * path. Returns a function that puts back what the slot held before.
 */
export function registerBackendProvider(name: BackendSlot, provider: BackendProvider): () => void {
  if (!(AUTO_ORDER as readonly string[]).includes(name)) {
    throw new Error(`registerBackendProvider: '${String(name)}' is not a backend slot; slots: ${AUTO_ORDER.join(', ')}`);
  }
  const previous = providers.get(name);
  providers.set(name, provider);
  return () => {
    if (previous == null) providers.delete(name);
    else providers.set(name, previous);
  };
}

/** The option, overridden by LEANTUNE_BACKEND when that is set. */
export function requestedBackend(option: string | undefined, env: NodeJS.ProcessEnv = process.env): BackendName {
  const fromEnv = env[BACKEND_ENV]?.trim();
  const [value, source] = fromEnv ? [fromEnv, `${BACKEND_ENV}=${fromEnv}`] : [option ?? 'auto', `backend '${option}'`];
  if (!isBackendName(value)) {
    throw new Error(`${source} is not a known backend; allowed: ${BACKEND_NAMES.join(', ')}`);
  }
  return value;
}

function resolveThreads(threads: number | undefined): number {
  if (threads == null) return cores();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new Error(`initBackend: threads must be a positive integer, got ${threads}`);
  }
  return threads;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Activates a tfjs backend. `auto` tries tfjs-node-gpu, tfjs-node, native, wasm, cpu in
 * that order: absent candidates are skipped silently, broken ones are logged and recorded
 * in `tried`. An explicitly requested backend must start, or this throws.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = requestedBackend(options.backend);
  const threads = resolveThreads(options.threads);
  const log = options.log ?? (() => undefined);
  const explicit = requested !== 'auto';
  const tried: BackendAttempt[] = [];
  for (const name of explicit ? [requested] : AUTO_ORDER) {
    const provider = providers.get(name);
    if (provider == null) {
      const reason = 'no provider registered (registerBackendProvider fills this slot)';
      if (explicit) throw new Error(`backend '${name}' is not available: ${reason}; or choose one of ${AUTO_ORDER.join(', ')}`);
      tried.push({ name, skipped: reason });
      continue;
    }
    try {
      // The previous backend's changes to shared state must not leak into this one.
      const previous = active;
      active = null;
      previous?.provider.deactivate?.();
      const started = await provider.activate({ threads, log, memoryLimit: options.memoryLimit });
      tried.push({ name });
      const info: BackendInfo = { name, requested, threads: started.threads, simd: started.simd, tried };
      active = { info, tfjsName: started.tfjsName, provider };
      return info;
    } catch (error) {
      if (error instanceof BackendUnavailableError) {
        if (explicit) throw new Error(`backend '${name}' is not available: ${error.reason}`);
        tried.push({ name, skipped: error.reason });
        continue;
      }
      if (explicit) throw new Error(`backend '${name}' failed to start: ${message(error)}`);
      tried.push({ name, error: message(error) });
      log(`backend ${name} failed, trying the next one: ${message(error)}`);
    }
  }
  const failures = tried.map((t) => `${t.name}: ${t.error ?? t.skipped}`).join('; ');
  throw new Error(`no backend could be started (${failures})`);
}

/** "backend wasm (simd, 2 threads)". */
export function formatBackendInfo(info: BackendInfo): string {
  const parts = [...(info.simd ? ['simd'] : []), `${info.threads} thread${info.threads === 1 ? '' : 's'}`];
  return `backend ${info.name} (${parts.join(', ')})`;
}

/** A backend tfjs was switched to behind initBackend's back: what can be read from tfjs. */
function describeUnmanaged(name: string): BackendInfo {
  const info: BackendInfo = { name, requested: 'none', threads: 1, simd: false, tried: [] };
  if (name === 'wasm') {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      info.threads = (require('@tensorflow/tfjs-backend-wasm') as { getThreadsCount(): number }).getThreadsCount();
      info.simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
    } catch {
      // Not initialised yet: keep the defaults.
    }
  }
  if (name === 'native') {
    // @leantune/native's backend computes with its addon's thread pool.
    const addon = (tf.findBackend('native') as { addon?: { info(): { threads: number; isa: string } } } | null)?.addon;
    const { threads, isa } = addon?.info() ?? { threads: 1, isa: 'scalar' };
    Object.assign(info, { threads, simd: isa !== 'scalar' });
  }
  return info;
}

/** The active backend, for run records (`info`) and logs (`text`). */
export function describeBackend(): { info: BackendInfo; text: string } {
  const current = tf.getBackend();
  const info = active != null && active.tfjsName === current ? active.info : describeUnmanaged(current);
  return { info, text: formatBackendInfo(info) };
}
