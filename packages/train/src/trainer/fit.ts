import { setSeed, tf } from '@leantune/tensor';
import { loadCheckpoint, saveCheckpoint } from '../checkpoint/checkpoint';
import { epochBatches, stepsPerEpoch } from '../data';
import { EarlyStopping } from '../early-stopping';
import { createOptimizer } from '../optim/create';
import { Optimizer } from '../optim/optimizer';
import { createLrSchedule, LrSchedule } from '../schedule';
import { trainStep } from './step';
import { BestEvaluation, EpochLogs, EvalLogs, FitOptions, FitResult, Metrics, StepLogs, TrainState } from './types';

/** Settings that fix the data order; a resume with other values could not be exact. */
interface RunShape {
  datasetLength: number;
  batchSize: number;
  gradAccum: number;
  seed: number;
  shuffle: boolean;
  dropLast: boolean;
}

interface TrainerCheckpoint {
  state: TrainState;
  shape: RunShape;
}

function checkPositiveInt(value: number, field: string): void {
  if (!Number.isInteger(value) || value < 1) throw new Error(`fit: ${field} must be an integer >= 1, got ${value}`);
}

/** Checkpoint keys of saveBest's kept weights: `best:<parameter path>`, beside the parameters. */
const BEST_PREFIX = 'best:';

async function restore(
  from: string,
  shape: RunShape,
  params: Map<string, tf.Variable>,
  optimizer: Optimizer,
  options: FitOptions<unknown>,
): Promise<{ state: TrainState; best?: Map<string, tf.Tensor> }> {
  const ckpt = await loadCheckpoint<TrainerCheckpoint>(from, options.checkpoint?.store);
  const where = `checkpoint ${ckpt.folder}`;
  const bestKeys = [...ckpt.weights.keys()].filter((k) => k.startsWith(BEST_PREFIX));
  try {
    for (const key of Object.keys(shape) as Array<keyof RunShape>) {
      if (ckpt.trainer.shape[key] !== shape[key]) {
        throw new Error(`Cannot resume from ${where}: it was saved with ${key}=${ckpt.trainer.shape[key]}, this run has ${key}=${shape[key]}; use the same value to resume exactly`);
      }
    }
    if (ckpt.optimizerName !== optimizer.name) {
      throw new Error(`Cannot resume from ${where}: it holds "${ckpt.optimizerName}" optimizer state, this run uses "${optimizer.name}"`);
    }
    const missing = [...params.keys()].filter((k) => !ckpt.weights.has(k));
    const unexpected = [...ckpt.weights.keys()].filter((k) => !params.has(k) && !k.startsWith(BEST_PREFIX));
    if (missing.length || unexpected.length) {
      throw new Error(`Cannot resume from ${where}: trainable parameters differ (missing: ${missing.slice(0, 5).join(', ') || 'none'}; unexpected: ${unexpected.slice(0, 5).join(', ') || 'none'}); freeze/unfreeze the same parameters as the saved run`);
    }
    const own = new Map([...ckpt.weights].filter(([k]) => !k.startsWith(BEST_PREFIX)));
    options.model.loadStateDict(own, { source: where });
    optimizer.loadStateDict(ckpt.optimizer, where);
    const best = bestKeys.length ? new Map(bestKeys.map((k) => [k.slice(BEST_PREFIX.length), tf.clone(ckpt.weights.get(k)!)])) : undefined;
    return { state: ckpt.trainer.state, best };
  } finally {
    tf.dispose([...ckpt.weights.values(), ...ckpt.optimizer.tensors.values()]);
  }
}

/**
 * Trains `model` on `trainSet`. The run is a pure function of its options and seed: data
 * order comes from (seed, epoch), random ops from (seed, step, micro-batch), so a run resumed
 * from a checkpoint retraces the uninterrupted one step for step.
 */
export async function fit<B>(options: FitOptions<B>): Promise<FitResult> {
  const { model, trainSet, callbacks = {} } = options;
  checkPositiveInt(options.epochs, 'epochs');
  checkPositiveInt(options.batchSize, 'batchSize');
  const gradAccum = options.gradAccum ?? 1;
  checkPositiveInt(gradAccum, 'gradAccum');
  const seed = options.seed ?? 0;
  if (!Number.isInteger(seed)) throw new Error(`fit: seed must be an integer, got ${seed}`);
  if (!Number.isInteger(trainSet.length) || trainSet.length < 1) throw new Error(`fit: trainSet.length must be a positive integer, got ${trainSet.length}`);
  if (options.clipNorm !== undefined && !(options.clipNorm > 0)) throw new Error(`fit: clipNorm must be > 0 (or left out), got ${options.clipNorm}`);
  const evalEvery = options.evalEvery ?? 0;
  if (!Number.isInteger(evalEvery) || evalEvery < 0) throw new Error(`fit: evalEvery must be an integer >= 1 (or left out), got ${evalEvery}`);
  if (options.evalStrategy === 'end' && (options.earlyStopping || options.saveBest)) {
    throw new Error(`fit: evalStrategy 'end' evaluates once; it cannot drive ${options.earlyStopping ? 'earlyStopping' : 'saveBest'}, which needs an evaluation after each epoch`);
  }
  const everySteps = options.checkpoint?.everySteps ?? 0;
  if (!Number.isInteger(everySteps) || everySteps < 0) throw new Error(`fit: checkpoint.everySteps must be an integer >= 0, got ${everySteps}`);
  const shape: RunShape = { datasetLength: trainSet.length, batchSize: options.batchSize, gradAccum, seed, shuffle: options.shuffle ?? true, dropLast: options.dropLast ?? false };
  const perEpoch = stepsPerEpoch(trainSet.length, options.batchSize, gradAccum, shape.dropLast);
  if (perEpoch === 0) throw new Error(`fit: dropLast with batchSize ${options.batchSize} > ${trainSet.length} samples leaves no batch`);

  const params = model.trainableVariables();
  if (params.size === 0) throw new Error('fit: the model has no trainable parameters; unfreeze the ones to train');
  const schedule: LrSchedule =
    typeof options.schedule === 'function'
      ? options.schedule
      : createLrSchedule(options.schedule ?? { kind: 'constant' }, options.optimizer.lr, options.epochs * perEpoch);
  const optimizer = createOptimizer(options.optimizer, params);
  const stopper = options.earlyStopping ? new EarlyStopping(options.earlyStopping) : undefined;
  const monitor = options.earlyStopping?.monitor ?? (options.evalFn ? 'loss' : 'train_loss');
  const seedRandomOps = options.seedRandomOps ?? setSeed;
  const stepLogs: StepLogs[] = [];
  const epochLogs: EpochLogs[] = [];
  const evalLogs: EvalLogs[] = [];
  const saveBest = options.saveBest;
  let bestWeights: Map<string, tf.Tensor> | undefined;
  let last: FitResult['last'];
  let lastSaved: string | undefined;
  let lastSavedStep = -1;

  try {
    let state: TrainState = { epoch: 0, batchInEpoch: 0, step: 0, samplesSeen: 0, seed, finished: false, earlyStopping: null, epochLossSum: 0, epochLossSteps: 0 };
    if (options.resumeFrom) {
      const restored = await restore(options.resumeFrom, shape, params, optimizer, options as FitOptions<unknown>);
      state = restored.state;
      bestWeights = restored.best;
    }
    if (stopper && state.earlyStopping) stopper.loadState(state.earlyStopping);

    const save = async (): Promise<void> => {
      if (!options.checkpoint) return;
      state.earlyStopping = stopper?.state ?? null;
      const { step: optStep, paramSteps, tensors } = optimizer.stateDict();
      const weights: Map<string, tf.Tensor> = new Map(params);
      for (const [k, v] of bestWeights ?? []) weights.set(`${BEST_PREFIX}${k}`, v);
      lastSaved = await saveCheckpoint<TrainerCheckpoint>(
        options.checkpoint.dir,
        { step: state.step, weights, optimizerName: optimizer.name, optimizer: { step: optStep, paramSteps, tensors }, trainer: { state: { ...state }, shape } },
        { store: options.checkpoint.store, keepLast: options.checkpoint.keepLast },
      );
      lastSavedStep = state.step;
    };
    const result = (stoppedBy: FitResult['stoppedBy']): FitResult => ({
      state: { ...state },
      stepLogs,
      epochLogs,
      evalLogs,
      stoppedBy,
      checkpoint: lastSaved,
      ...(state.best ? { best: state.best } : {}),
      ...(last ? { last } : {}),
    });
    /** evalFn in eval mode, then the evaluate callbacks' waterfall. */
    const evaluate = async (base: Metrics): Promise<Metrics> => {
      let metrics = base;
      if (options.evalFn) {
        model.eval();
        try {
          metrics = { ...metrics, ...(await options.evalFn(model, state)) };
        } finally {
          model.train();
        }
      }
      if (callbacks.evaluate) metrics = await callbacks.evaluate(metrics, state);
      return metrics;
    };
    /** Records the evaluation as the last one and, with saveBest, keeps the weights when it is the best so far. */
    const consider = (metrics: Metrics, step: number, epoch: number): void => {
      last = { step, epoch, metrics };
      if (!saveBest) return;
      const value = metrics[saveBest.monitor];
      if (typeof value !== 'number' || Number.isNaN(value)) {
        throw new Error(`saveBest.metric "${saveBest.monitor}" is not among the evaluation metrics (${Object.keys(metrics).join(', ')}); set saveBest.metric to one of them`);
      }
      const best = state.best;
      const better = !best || (saveBest.mode === 'max' ? value > best.value : value < best.value);
      if (!better) return;
      const kept = new Map<string, tf.Tensor>();
      for (const [k, v] of params) kept.set(k, tf.clone(v));
      if (bestWeights) tf.dispose([...bestWeights.values()]);
      bestWeights = kept;
      const record: BestEvaluation = { step, epoch, metric: saveBest.monitor, value, metrics };
      state = { ...state, best: record };
    };
    /** Puts the best evaluation's weights back into the model (the end of a finished run). */
    const restoreBest = (): void => {
      if (!bestWeights) return;
      for (const [k, v] of bestWeights) params.get(k)?.assign(v);
    };
    const aborted = async (): Promise<boolean> => {
      if (!options.signal?.aborted) return false;
      if (lastSavedStep !== state.step) await save();
      return true;
    };

    if (state.finished) {
      restoreBest();
      return result('already-finished');
    }
    model.train();
    await callbacks.beforeTrain?.(state);
    while (state.epoch < options.epochs) {
      const batches = epochBatches(trainSet.length, state.epoch, { batchSize: options.batchSize, seed, shuffle: shape.shuffle, dropLast: shape.dropLast });
      while (state.batchInEpoch < batches.length) {
        if (await aborted()) return result('aborted');
        await callbacks.beforeStep?.(state);
        const micro = batches.slice(state.batchInEpoch, state.batchInEpoch + gradAccum);
        const lr = schedule(state.step);
        const started = performance.now();
        const out = trainStep({ dataset: trainSet, loss: options.loss, params, optimizer, microBatches: micro, step: state.step, epoch: state.epoch, seed, lr, clipNorm: options.clipNorm, seedRandomOps });
        const stepTimeMs = performance.now() - started;
        const samples = micro.reduce((n, b) => n + b.length, 0);
        const logs: StepLogs = { step: state.step, epoch: state.epoch, loss: out.loss, lr, gradNorm: out.gradNorm, stepTimeMs, samplesPerSec: samples / Math.max(stepTimeMs / 1000, 1e-9), rssMB: process.memoryUsage.rss() / 2 ** 20 };
        state = { ...state, step: state.step + 1, batchInEpoch: state.batchInEpoch + micro.length, samplesSeen: state.samplesSeen + samples, epochLossSum: state.epochLossSum + out.loss, epochLossSteps: state.epochLossSteps + 1 };
        stepLogs.push(logs);
        await callbacks.afterStep?.(logs, state);
        // An evaluation due on the epoch's last step is the epoch's own (below).
        if (evalEvery > 0 && state.step % evalEvery === 0 && state.batchInEpoch < batches.length && (options.evalFn || callbacks.evaluate)) {
          const metrics = await evaluate({});
          consider(metrics, state.step, state.epoch);
          const evalLog: EvalLogs = { epoch: state.epoch, step: state.step, metrics };
          evalLogs.push(evalLog);
          await callbacks.afterEval?.(evalLog, state);
        }
        if (everySteps > 0 && state.step % everySteps === 0) await save();
        if (await aborted()) return result('aborted');
      }

      const trainLoss = state.epochLossSum / Math.max(1, state.epochLossSteps);
      // evalStrategy 'end': the validation split only after the last epoch.
      const evaluated = options.evalStrategy !== 'end' || state.epoch + 1 >= options.epochs;
      const metrics = evaluated ? await evaluate({ train_loss: trainLoss }) : { train_loss: trainLoss };
      if (evaluated) consider(metrics, state.step, state.epoch);
      let improved: boolean | undefined;
      let stop = false;
      if (stopper) {
        const value = metrics[monitor];
        if (typeof value !== 'number') {
          throw new Error(`earlyStopping.monitor "${monitor}" is not among the epoch metrics (${Object.keys(metrics).join(', ')}); set earlyStopping.monitor to one of them`);
        }
        ({ improved, shouldStop: stop } = stopper.update(value, state.epoch));
      }
      const epochLog: EpochLogs = { epoch: state.epoch, step: state.step, trainLoss, metrics, improved };
      state = { ...state, epoch: state.epoch + 1, batchInEpoch: 0, epochLossSum: 0, epochLossSteps: 0, earlyStopping: stopper?.state ?? null };
      epochLogs.push(epochLog);
      await callbacks.afterEpoch?.(epochLog, state);
      if (stop) {
        state.finished = true;
        await save();
        restoreBest();
        return result('early-stopping');
      }
    }
    state.finished = true;
    await save();
    restoreBest();
    return result('completed');
  } finally {
    optimizer.dispose();
    if (bestWeights) tf.dispose([...bestWeights.values()]);
  }
}
