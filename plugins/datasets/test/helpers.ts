import type { RunContext } from '@leantune/core';
import { tf } from '@leantune/tensor';

/** The slice of a RunContext loaders use, for calling a loader directly. */
export function runContext(seed = 42, logs: string[] = []): RunContext {
  return {
    runName: 'test',
    config: {} as RunContext['config'],
    tf,
    log: { info: (m) => logs.push(m), warn: (m) => logs.push(`warning: ${m}`) },
    seed,
    state: new Map(),
  };
}
