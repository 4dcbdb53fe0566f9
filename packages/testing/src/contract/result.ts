import { errorMessage } from '@leantune/core';
import type { CheckName, CheckResult, MethodContractOptions } from './types';

/** Collects problems and figures; `finish` turns them into a CheckResult. */
export class CheckRecorder {
  readonly problems: string[] = [];
  readonly measured: CheckResult['measured'] = {};

  constructor(
    readonly check: CheckName,
    readonly method: string,
  ) {}

  fail(problem: string): void {
    this.problems.push(problem);
  }

  finish(): CheckResult {
    return { check: this.check, method: this.method, ok: this.problems.length === 0, problems: this.problems, measured: this.measured };
  }
}

/**
 * Runs a check body; an exception becomes a failed result (a broken method must give a
 * readable verdict, not crash the suite), and the result goes to `onResult`.
 */
export async function runCheck(
  check: CheckName,
  options: MethodContractOptions,
  body: (r: CheckRecorder) => Promise<void | { skipped: string }>,
): Promise<CheckResult> {
  const recorder = new CheckRecorder(check, options.method);
  let result: CheckResult;
  try {
    const outcome = await body(recorder);
    result = outcome?.skipped ? { ...recorder.finish(), ok: true, skipped: outcome.skipped } : recorder.finish();
  } catch (err) {
    recorder.fail(`threw: ${errorMessage(err)}`);
    result = recorder.finish();
  }
  options.onResult?.(result);
  return result;
}

export function mean(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}
