import { checkInvalidConfigs, checkRegistration } from './checks-config';
import { checkIdentityAtInit, checkMerge, checkSaveLoad, checkTrainableParameters, mergeSkipReason } from './checks-model';
import { checkLossFalls, checkNoLeaks } from './checks-training';
import type { CheckName, CheckResult, MethodContractOptions } from './types';

export interface ContractCheck {
  name: CheckName;
  title: string;
  run(options: MethodContractOptions): Promise<CheckResult>;
}

/** Every check of the contract, in the order the suite runs them. */
export const CONTRACT_CHECKS: readonly ContractCheck[] = [
  { name: 'registration', title: 'registers the method (id, family, prefix) and its config validates with defaults', run: checkRegistration },
  { name: 'trainable', title: 'trains only its own parameters; the base stays frozen', run: checkTrainableParameters },
  { name: 'identity', title: 'computes the base model\'s outputs at init', run: checkIdentityAtInit },
  { name: 'save-load', title: 'save, then load into a fresh model, gives identical outputs', run: checkSaveLoad },
  { name: 'merge', title: 'merged outputs equal unmerged ones', run: checkMerge },
  { name: 'leaks', title: 'leaks no tensor per training step', run: checkNoLeaks },
  { name: 'loss', title: 'loss falls on the tiny task; trainable parameters move, base ones do not', run: checkLossFalls },
  { name: 'invalid-configs', title: 'rejects invalid configs with the JSON pointer and a reason', run: checkInvalidConfigs },
];

/** Generous for the tiny fixture, and independent of the caller's jest testTimeout (5 s by default). */
const CHECK_TIMEOUT_MS = 60_000;

export function formatFailure(result: CheckResult): string {
  return `method contract "${result.method}", check "${result.check}" failed:\n- ${result.problems.join('\n- ')}`;
}

/** Runs every check in order, outside any test runner; failures are in the results, not thrown. */
export async function runMethodContract(options: MethodContractOptions, only?: readonly CheckName[]): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const check of CONTRACT_CHECKS) if (!only || only.includes(check.name)) results.push(await check.run(options));
  return results;
}

type TestBody = () => Promise<void>;
interface TestGlobals {
  describe(name: string, body: () => void): void;
  it: { (name: string, body: TestBody, timeout?: number): void; skip(name: string, body: TestBody): void };
}

/** jest's (or a compatible runner's) globals, looked up only when the suite is declared. */
function testGlobals(): TestGlobals {
  const g = globalThis as unknown as Partial<TestGlobals>;
  if (typeof g.describe !== 'function' || typeof g.it !== 'function') {
    throw new Error('describeMethodContract() must be called in a test file (it declares jest describe/it blocks); outside a test runner use runMethodContract()');
  }
  return g as TestGlobals;
}

/** Why a check does not apply to these options, or undefined when it runs. */
function skipReason(check: CheckName, options: MethodContractOptions): string | undefined {
  if (check === 'identity' && !options.identityAtInit) return 'identityAtInit is not set';
  if (check === 'merge' && options.mergeable === false) return mergeSkipReason(options);
  return undefined;
}

/**
 * Declares the contract as one `describe` with an `it` per check. A check that does not
 * apply (no identityAtInit, mergeable: false) is declared skipped with the reason in its
 * title ("… (skipped: <reason>)"), so the jest report shows it as skipped, never as a pass.
 */
export function describeMethodContract(options: MethodContractOptions): void {
  const { describe, it } = testGlobals();
  describe(`method contract: "${options.method}"${options.label ? ` (${options.label})` : ''} from ${options.plugin.meta.name}`, () => {
    for (const check of CONTRACT_CHECKS) {
      const body = async () => {
        const result = await check.run(options);
        if (!result.ok) throw new Error(formatFailure(result));
      };
      const reason = skipReason(check.name, options);
      if (reason !== undefined) it.skip(`${check.title} (skipped: ${reason})`, body);
      else it(check.title, body, CHECK_TIMEOUT_MS);
    }
  });
}
