import { LeantuneError } from '@leantune/core';

export const EXIT = Object.freeze({ OK: 0, RUN_FAILURE: 1, USAGE: 2 });

/** Maps any error to the documented exit code and prints it without a stack trace. */
export function reportError(err: unknown, write: (s: string) => void): number {
  if (err instanceof LeantuneError) {
    write(`leantune: ${err.message}\n`);
    return err.exitCode;
  }
  const message = err instanceof Error ? (process.env.LEANTUNE_DEBUG ? err.stack : err.message) : String(err);
  write(`leantune: run failed: ${message}\n`);
  return EXIT.RUN_FAILURE;
}
