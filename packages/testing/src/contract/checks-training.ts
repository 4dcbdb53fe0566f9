import { tf } from '@leantune/tensor';
import { openSession, type ContractSession } from './fixture';
import { mean, runCheck } from './result';
import type { CheckResult, MethodContractOptions } from './types';

export const LEAK_STEPS = 15;
const DEFAULT_LOSS_STEPS = 30;
// Weak methods (a bias or a scale on a frozen random base) still drop 5–8% here; a method
// that does not learn drops about 0. The tiny set and seed make every figure deterministic.
const DEFAULT_MIN_DROP = 0.05;

/** A run that stops after exactly `steps` optimizer steps, whatever the dataset size. */
function trainFor(options: MethodContractOptions, steps: number, batchSize: number): Promise<ContractSession> {
  const records = options.data?.train.length ?? 48;
  const epochs = Math.ceil(steps / Math.max(1, Math.floor(records / batchSize))) + 1;
  return openSession(options, true, { epochs, maxSteps: steps, batchSize });
}

/** 5. tf.memory().numTensors is the same after step 3 and after step 15 of training. */
export function checkNoLeaks(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('leaks', options, async (r) => {
    const atStart = tf.memory().numTensors;
    const s = await trainFor(options, LEAK_STEPS, Number(options.train?.batchSize ?? 8));
    try {
      const counts: number[] = [];
      s.run.hooks.afterStep.tap('contract-leaks', () => void counts.push(tf.memory().numTensors));
      await s.run.fit();
      r.measured.numTensors = counts;
      if (counts.length < LEAK_STEPS) {
        r.fail(`training stopped after ${counts.length} steps, before step ${LEAK_STEPS}`);
        return;
      }
      const [atStep3, atStep15] = [counts[2], counts[LEAK_STEPS - 1]];
      Object.assign(r.measured, { atStep3, atStep15, perStep: (atStep15 - atStep3) / (LEAK_STEPS - 3) });
      if (atStep15 !== atStep3) {
        r.fail(`tensor count went from ${atStep3} after step 3 to ${atStep15} after step ${LEAK_STEPS}: a tensor made in inject's forward or loss is not disposed (wrap it in tf.tidy, or dispose it)`);
      }
    } finally {
      s.dispose();
    }
    // Reported, not failed: a one-off leak at inject (e.g. a tf.zeros given to addParameter
    // outside a tidy) costs little, but callers can see it here.
    r.measured.leftAfterRun = tf.memory().numTensors - atStart;
  });
}

function snapshot(variables: Iterable<[string, tf.Variable]>): Map<string, { variable: tf.Variable; values: Float32Array }> {
  const out = new Map<string, { variable: tf.Variable; values: Float32Array }>();
  for (const [path, variable] of variables) if (!variable.isDisposed) out.set(path, { variable, values: Float32Array.from(variable.dataSync()) });
  return out;
}

function changed(entry: { variable: tf.Variable; values: Float32Array }): boolean {
  const now = entry.variable.dataSync();
  return now.some((v, i) => v !== entry.values[i]);
}

/**
 * 6. On a fixed seed, the mean of the last three step losses is below the first three's by
 * `minRelativeDrop`; every trainable parameter moved; no base parameter did (with
 * trainsBaseParameters: no base parameter outside the trainable set).
 */
export function checkLossFalls(options: MethodContractOptions): Promise<CheckResult> {
  return runCheck('loss', options, async (r) => {
    const steps = options.loss?.steps ?? DEFAULT_LOSS_STEPS;
    const minDrop = options.loss?.minRelativeDrop ?? DEFAULT_MIN_DROP;
    // Three batches per epoch: the first three steps are exactly the first epoch and the last
    // three the last one, so the two means compare the whole split, free of batch-to-batch noise.
    const records = options.data?.train.length ?? 48;
    const s = await trainFor(options, steps, Number(options.train?.batchSize ?? Math.ceil(records / 3)));
    try {
      const trainable = snapshot(s.model.module.trainableVariables());
      // A method that trains base parameters in place may move those, and only those.
      const trained = new Set([...trainable.values()].map((e) => e.variable));
      const frozenBase = [...s.baseVariables].filter(([variable]) => !(options.trainsBaseParameters && trained.has(variable)));
      const base = snapshot(frozenBase.map(([variable, path]) => [path, variable]));
      const losses: number[] = [];
      s.run.hooks.afterStep.tap('contract-loss', (logs) => void losses.push(logs.loss));
      await s.run.fit();
      const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
      Object.assign(r.measured, { steps: losses.length, first3: first, last3: last, relativeDrop: (first - last) / first, losses });
      if (losses.length < 6) r.fail(`only ${losses.length} training steps ran; the check needs at least 6`);
      else if (!(last <= first * (1 - minDrop))) {
        r.fail(`loss did not fall by ${minDrop * 100}%: mean of the first 3 steps ${first.toFixed(4)}, of the last 3 ${last.toFixed(4)}`);
      }
      const movedBase = [...base].filter(([, e]) => !e.variable.isDisposed && changed(e)).map(([path]) => path);
      if (movedBase.length) r.fail(`training changed ${options.trainsBaseParameters ? 'frozen ' : ''}base parameters: ${movedBase.slice(0, 5).join(', ')}; the base must stay frozen`);
      const stuck = [...trainable].filter(([, e]) => !e.variable.isDisposed && !changed(e)).map(([path]) => path);
      if (stuck.length) {
        r.fail(`trainable parameters never changed: ${stuck.slice(0, 5).join(', ')}; they get no gradient (is the injected module used by the forward pass?)`);
      }
    } finally {
      s.dispose();
    }
  });
}
