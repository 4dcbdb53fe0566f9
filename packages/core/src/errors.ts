import { sep } from 'node:path';

/**
 * Errors the CLI maps to exit codes: a usage or config problem exits 2, a failure while
 * running exits 1. Every message names what was wrong (file, field, plugin) and the fix.
 */
export class LeantuneError extends Error {
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config file that cannot be read, parsed or validated. */
export class ConfigError extends LeantuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** A plugin that cannot be found, loaded, matched to this core, or applied. */
export class PluginError extends LeantuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 2, options);
  }
}

/** A registration that conflicts with an earlier one (duplicate id, prefix, loader). */
export class RegistryError extends LeantuneError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A failure while a run executes (model loading, training, saving). */
export class RunError extends LeantuneError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 1, options);
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Frames of the code that calls plugins (this package) and of tapable's generated hook code. */
const CALLER_FRAME = [`${__dirname}${sep}`, '/tapable/', 'node:internal/'];

/**
 * Where a plugin's code threw: the top frames of `err`'s stack (file:line:column) down to
 * the first frame of the core that called the plugin, as indented "at …" lines to append
 * to a one-line message. Empty when the error has no stack.
 */
export function pluginFrames(err: unknown, max = 3): string {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return '';
  const frames: string[] = [];
  for (const line of err.stack.split('\n')) {
    if (!/^\s+at /.test(line)) continue;
    if (line.includes(CALLER_FRAME[0])) break;
    if (CALLER_FRAME.slice(1).some((c) => line.includes(c))) continue;
    frames.push(line.trim());
    if (frames.length === max) break;
  }
  return frames.map((f) => `\n    ${f}`).join('');
}
