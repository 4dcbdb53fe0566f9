import { LeantuneError } from '@leantune/core';

export const EXIT = Object.freeze({ OK: 0, RUN_FAILURE: 1, USAGE: 2, INTERRUPTED: 130 });

/** Training stopped by SIGINT/SIGTERM with its checkpoint saved: exit 130, as shells expect after Ctrl-C. */
export class Interrupted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Interrupted';
  }
}

/** Maps any error to the documented exit code and prints it without a stack trace. */
export function reportError(err: unknown, write: (s: string) => void): number {
  if (err instanceof Interrupted) {
    write(`leantune: ${err.message}\n`);
    return EXIT.INTERRUPTED;
  }
  if (err instanceof LeantuneError) {
    write(`leantune: ${err.message}\n`);
    // LEANTUNE_DEBUG=1: the whole stack of what went wrong underneath (a plugin's error, an fs error).
    if (process.env.LEANTUNE_DEBUG && err.cause instanceof Error && err.cause.stack) write(`caused by: ${err.cause.stack}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? (process.env.LEANTUNE_DEBUG ? err.stack : err.message) : String(err);
  write(`leantune: run failed: ${message}\n`);
  return EXIT.RUN_FAILURE;
}
