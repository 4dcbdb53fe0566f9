import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf } from '@leantune/tensor';
import { maxAbsDiff, methodFiles, openSession, perturbTrainable, trainableSafetensors } from './fixture';
import { runCheck } from './result';
import type { CheckResult, MethodContractOptions } from './types';

const DEFAULT_TOLERANCE = { saveLoad: 1e-6, merge: 1e-5, identity: 1e-6 };

function tolerance(options: MethodContractOptions, which: keyof typeof DEFAULT_TOLERANCE): number {
  return options.tolerance?.[which] ?? DEFAULT_TOLERANCE[which];
}

/** PEFT's print_trainable_parameters line, from a `trainable` check result. */
export function formatParameterCounts(result: CheckResult): string {
  const { trainable, total, percent } = result.measured;
  return `${result.method}: trainable params: ${Number(trainable).toLocaleString('en-US')} || all params: ${Number(total).toLocaleString('en-US')} || trainable%: ${Number(percent).toFixed(4)}`;
}

/**
 * 2. After a Run injects the method, something is trainable and none of it is a base
 * parameter (matched by variable, so a renamed base weight still counts as base), unless
 * the method declares trainsBaseParameters.
 */
export function checkTrainableParameters(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('trainable', options, async (r) => {
    const s = await openSession(options);
    try {
      const params = [...s.model.module.namedParameters()];
      const trainable = params.filter(([, p]) => p.requiresGrad);
      const counts = s.model.module.countParameters();
      const baseTotal = [...s.baseVariables.keys()].reduce((n, v) => n + v.size, 0);
      Object.assign(r.measured, {
        trainable: counts.trainable,
        total: counts.total,
        percent: counts.total ? (100 * counts.trainable) / counts.total : 0,
        base: baseTotal,
        trainablePaths: trainable.map(([path]) => path),
      });
      if (!trainable.length) {
        r.fail(`nothing is trainable after inject: the handle's trains(path, param) claims no parameter of the model`);
      }
      const base = trainable.filter(([, p]) => s.baseVariables.has(p.variable));
      r.measured.baseTrainable = base.reduce((n, [, p]) => n + p.variable.size, 0);
      if (base.length && !options.trainsBaseParameters) {
        const names = base.map(([path, p]) => (path === s.baseVariables.get(p.variable) ? path : `${path} (base ${s.baseVariables.get(p.variable)})`));
        r.fail(`base parameters are trainable: ${names.slice(0, 5).join(', ')}${names.length > 5 ? ` and ${names.length - 5} more` : ''}; the base must stay frozen (narrow trainable() or the prefix; a method that trains base parameters in place by design, as BitFit does, declares trainsBaseParameters: true)`);
      }
    } finally {
      s.dispose();
    }
  });
}

/** The injected model computes the base model's outputs before any training. */
export function checkIdentityAtInit(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('identity', options, async (r) => {
    if (!options.identityAtInit) return { skipped: 'identityAtInit is not set' };
    const s = await openSession(options);
    try {
      const diff = tf.tidy(() => maxAbsDiff(s.outputs(), s.baseOutputs));
      r.measured.maxAbsDiff = diff;
      if (!(diff <= tolerance(options, 'identity'))) {
        r.fail(`at init the injected model's outputs differ from the base model's by ${diff} (> ${tolerance(options, 'identity')}); initialise the method as a no-op (e.g. a zero delta)`);
      }
    } finally {
      s.dispose();
    }
  });
}

/**
 * 3. Trained state (simulated by seeded noise on every trainable parameter) saved, then
 * loaded into a fresh model, gives the same outputs.
 */
export function checkSaveLoad(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('save-load', options, async (r) => {
    const tol = tolerance(options, 'saveLoad');
    const dir = mkdtempSync(join(tmpdir(), `lt-contract-${options.method}-`));
    const saved = await openSession(options);
    const io = options.saveLoad ?? (saved.handle?.save && saved.method.load ? methodFiles : trainableSafetensors);
    r.measured.saveLoad = io === methodFiles ? 'method files (handle.save, method.load)' : io === trainableSafetensors ? 'trainable.safetensors' : 'custom';
    let expected: tf.Tensor | undefined;
    try {
      perturbTrainable(saved.model, 1000);
      expected = saved.outputs();
      await io.save(saved.model, dir, { run: saved.run, method: saved.method, handle: saved.handle });
      r.measured.files = readdirSync(dir);
      const fresh = await openSession(options, io.into !== 'base');
      try {
        const before = tf.tidy(() => maxAbsDiff(expected!, fresh.outputs()));
        r.measured.diffBeforeLoad = before;
        if (!(before > tol)) {
          r.fail(`inconclusive: a fresh model already gives the saved model's outputs (max abs diff ${before}); do the trainable parameters affect the output?`);
        }
        const replaced = await io.load(fresh.model, dir, { run: fresh.run, method: fresh.method, handle: fresh.handle });
        if (replaced) fresh.model.module = replaced;
        const after = tf.tidy(() => maxAbsDiff(expected!, fresh.outputs()));
        r.measured.maxAbsDiff = after;
        if (!(after <= tol)) {
          r.fail(`after save and load into a fresh model the outputs differ by ${after} (> ${tol}): some state that affects the output is not saved, or not restored`);
        }
      } finally {
        fresh.dispose();
      }
    } finally {
      expected?.dispose();
      saved.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** The reason a skipped merge check gives: the contract's own, else the option that skipped it. */
export function mergeSkipReason(options: MethodContractOptions): string {
  return options.mergeSkipReason ?? 'mergeable: false';
}

/** 4. merge() folds the (perturbed) method parameters in without changing the outputs. */
export function checkMerge(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('merge', options, async (r) => {
    if (options.mergeable === false) return { skipped: mergeSkipReason(options) };
    const tol = tolerance(options, 'merge');
    const s = await openSession(options);
    try {
      const handle = s.handle;
      if (!handle?.mergeAndUnload) {
        const why = handle?.notMergeable ? ` (it says: ${handle.notMergeable})` : '';
        if (options.mergeable) r.fail(`mergeable: true, but method "${options.method}"'s handle has no mergeAndUnload()${why}`);
        else {
          r.fail(
            `method "${options.method}"'s handle has no mergeAndUnload()${why}, so merged and unmerged outputs cannot be compared; declare mergeable: false with mergeSkipReason (the suite then reports the check as skipped, with the reason) or give the handle mergeAndUnload()`,
          );
        }
        return;
      }
      perturbTrainable(s.model, 2000);
      const unmerged = s.outputs();
      try {
        const delta = maxAbsDiff(unmerged, s.baseOutputs);
        r.measured.deltaFromBase = delta;
        if (!(delta > tol)) r.fail(`inconclusive: with perturbed parameters the output still equals the base model's (max abs diff ${delta})`);
        const methodParametersBefore = [...s.model.module.namedParameters()].filter(([path, p]) => handle.trains(path, p)).length;
        const merged = handle.mergeAndUnload();
        if (merged) s.model.module = merged;
        const diff = tf.tidy(() => maxAbsDiff(unmerged, s.outputs()));
        r.measured.maxAbsDiff = diff;
        const paths = new Set([...s.model.module.namedParameters()].map(([path]) => path));
        r.measured.methodParametersBeforeMerge = methodParametersBefore;
        r.measured.parametersAfterMerge = paths.size;
        if (!(diff <= tol)) r.fail(`merged outputs differ from unmerged by ${diff} (> ${tol})`);
      } finally {
        unmerged.dispose();
      }
    } finally {
      s.dispose();
    }
  });
}
