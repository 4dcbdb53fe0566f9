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
