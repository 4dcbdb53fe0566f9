import * as os from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import { BackendUnavailableError } from './types';

export function cores(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

function isModuleNotFound(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | null)?.code === 'MODULE_NOT_FOUND';
}

/**
 * Resolves an optional package (from `searchFrom` when given); its absence is a
 * BackendUnavailableError, which `auto` skips silently.
 */
export function resolveOptional(pkg: string, install: string, searchFrom?: string): string {
  try {
    return searchFrom == null ? require.resolve(pkg) : require.resolve(pkg, { paths: [searchFrom] });
  } catch (error) {
    if (isModuleNotFound(error)) throw new BackendUnavailableError(`${pkg} is not installed: ${install}`);
    throw error;
  }
}

export async function activate(tfjsName: string): Promise<void> {
  if (!(await tf.setBackend(tfjsName))) {
    throw new Error(`tf.setBackend('${tfjsName}') failed; tfjs logged the cause above`);
  }
}
