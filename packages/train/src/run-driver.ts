import { checkSchedule, trainConfigOf, trainConfigSchema, type TrainConfig } from './config';
import { RunError, type Batch, type DataRecord, type LoadedModel, type Metrics, type Run, type TrainDriver, type TrainState as CoreTrainState } from '@leantune/core';
import { tf } from '@leantune/tensor';
import type { IndexedDataset } from './data';
import { checkActivationsFit, checkMemoryFits } from './memory-check';
import { ClassificationMeter, perClassMetrics, type ClassificationMetrics } from './metrics';
import { deriveSeed, Rng } from './random';
import { fit } from './trainer/fit';
import type { BestEvaluation, FitResult } from './trainer/types';

export interface TrainDriverOptions {
  /** Stops after the current step (Ctrl-C), saving a checkpoint when checkpointing is on. */
  signal?: AbortSignal;
  /** Where checkpoints go; without it the run keeps none. */
  checkpointDir?: string;
  resumeFrom?: string;
  /** Called with the full fit result, for callers that want step logs. */
  onResult?: (result: FitResult) => void;
}

/** Key of the run's TrainReport in `run.context.state`. */
export const TRAIN_REPORT = 'leantune:train-report';

/** What a run reports beside its metrics: saveBest's best and last evaluation, and the test split. */
export interface TrainReport {
  best?: BestEvaluation;
  last?: { step: number; epoch: number; metrics: Metrics };
  /** The test split, evaluated once at the end with the weights the run keeps. */
  test?: Metrics & { count: number };
}

function requireTrainable(model: LoadedModel): asserts model is LoadedModel & Required<Pick<LoadedModel, 'encode' | 'loss'>> {
  if (!model.encode || !model.loss) {
    throw new RunError(`Model "${model.name}" (loader ${model.loader ?? '?'}) cannot be trained: its loader provides no encode() and loss().`);
  }
}

/** Loss, accuracy, macro-F1 and the confusion matrix (rows: true class) of a classifier on records. */
export function classificationReport(model: LoadedModel, records: readonly DataRecord[], batchSize: number): ClassificationMetrics {
  requireTrainable(model);
  if (!model.predict || !model.labels) throw new RunError(`Model "${model.name}" has no classification head to evaluate.`);
  const meter = new ClassificationMeter(model.labels.length);
  for (let i = 0; i < records.length; i += batchSize) {
    tf.tidy(() => {
      const batch = model.encode(records.slice(i, i + batchSize));
      const loss = model.loss(batch, false).dataSync()[0];
      meter.update(tf.log(model.predict!(batch)), batch.targets!, loss);
    });
  }
  return meter.compute();
}

/**
 * Loss, accuracy, macro-F1 and per-class precision, recall and F1 (`precision/<class>`, …)
 * of a classifier on records, batch by batch.
 */
export function evaluateClassifier(model: LoadedModel, records: readonly DataRecord[], batchSize: number): Metrics {
  const m = classificationReport(model, records, batchSize);
  return { loss: m.loss, accuracy: m.accuracy, macro_f1: m.macroF1, ...perClassMetrics(m.confusion, model.labels!) };
}

/** Mean loss (weighted by batch size) and its exp, for models without a classification head (language models). */
export function evaluateLoss(model: LoadedModel, records: readonly DataRecord[], batchSize: number): Metrics {
  requireTrainable(model);
  let sum = 0;
  for (let i = 0; i < records.length; i += batchSize) {
    const slice = records.slice(i, i + batchSize);
    sum += tf.tidy(() => model.loss(model.encode(slice), false).dataSync()[0]) * slice.length;
  }
  const loss = records.length ? sum / records.length : NaN;
  return { loss, perplexity: Math.exp(loss) };
}

/** Key of the augmentation stream in deriveSeed, apart from the batch-order and dropout streams. */
const AUGMENT_STREAM = 0xa06;

function rngFunction(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.next();
}

/**
 * True when the run enables a method that trains nothing (zero-shot, hand-written prompts:
 * `trainsNothing`): with nothing trainable, the driver then evaluates instead of failing.
 */
export function isEvaluationOnlyRun(run: Run): boolean {
  return run.methods.some((m) => m.method.trainsNothing === true);
}

/**
 * The standard TrainDriver: maps a run's config onto `fit`, its callbacks onto the run's
 * lifecycle hooks, and evaluates on the validation split after every epoch.
 */
export function createTrainDriver(options: TrainDriverOptions = {}): TrainDriver {
  return {
    // The `train` section is this trainer's: it registers the schema and checks the schedule.
    configSchema: trainConfigSchema,
    checkConfig: (train, file) => checkSchedule(train as unknown as TrainConfig, undefined, file),
    async fit(run: Run, model: LoadedModel, dataset) {
      requireTrainable(model);
      const cfg = trainConfigOf(run.config);
      const train = dataset.splits?.train ?? dataset.records;
      const validation = dataset.splits?.validation;
      if (model.module.trainableVariables().size === 0 && isEvaluationOnlyRun(run)) {
        // Zero-shot: no step, no optimizer; the validation split (else every record) is evaluated.
        const records = validation?.length ? validation : dataset.records;
        return { ...evaluateClassifier(model, records, cfg.batchSize), steps: 0 };
      }
      if (train.length === 0) throw new RunError(`Dataset "${dataset.name}" has no training records after its stages.`);
      checkSchedule(cfg, train.length);
      checkMemoryFits(model, cfg.optimizer, run.context);
      await checkActivationsFit(model, cfg.optimizer, cfg.batchSize, train[0], run.context);
      const core: CoreTrainState = { run: run.context, model, epoch: 0, step: 0, stopRequested: false };
      const trainSet: IndexedDataset<Batch> = { length: train.length, getBatch: (idx) => model.encode(idx.map((i) => trainRecord(i))) };
      // Augmentation (a stage's policy) on training records only, as batches are built. The
      // rng comes from (run seed, epoch, sample index), so a resumed run augments the same
      // way; core.epoch is current here because beforeStep syncs it before each step's batches.
      const augment = dataset.augment;
      const trainRecord = (i: number): DataRecord =>
        augment ? augment(train[i], rngFunction(deriveSeed(run.context.seed, core.epoch, i, AUGMENT_STREAM))) : train[i];
      const sync = (s: { epoch: number; step: number }) => Object.assign(core, { epoch: s.epoch, step: s.step });
      const stopAtMax = new AbortController();
      const signal = options.signal ? AbortSignal.any([options.signal, stopAtMax.signal]) : stopAtMax.signal;
      const optimizer =
        cfg.optimizer === 'sgd'
          ? { name: 'sgd' as const, lr: cfg.learningRate, momentum: cfg.momentum, weightDecay: cfg.weightDecay }
          : { name: 'adamw' as const, lr: cfg.learningRate, weightDecay: cfg.weightDecay };
      const result = await fit<Batch>({
        model: model.module,
        loss: (batch, training) => model.loss(batch, training),
        trainSet,
        evalFn: validation?.length && model.predict ? () => evaluateClassifier(model, validation, cfg.batchSize) : undefined,
        evalEvery: cfg.evalEvery,
        evalStrategy: cfg.evalStrategy,
        saveBest: cfg.saveBest && { monitor: cfg.saveBest.metric, mode: cfg.saveBest.mode },
        epochs: cfg.epochs,
        batchSize: cfg.batchSize,
        optimizer,
        schedule: { kind: cfg.schedule.type, warmupSteps: cfg.schedule.warmupSteps, minLrRatio: cfg.schedule.minLrRatio },
        clipNorm: cfg.clipNorm,
        gradAccum: cfg.gradAccum,
        earlyStopping: cfg.earlyStopping && { monitor: cfg.earlyStopping.metric, patience: cfg.earlyStopping.patience, minDelta: cfg.earlyStopping.minDelta, mode: cfg.earlyStopping.mode },
        seed: run.context.seed,
        checkpoint: options.checkpointDir ? { dir: options.checkpointDir, everySteps: cfg.checkpointEvery } : undefined,
        resumeFrom: options.resumeFrom,
        signal,
        callbacks: {
          beforeTrain: (s) => run.hooks.beforeTrain.promise(sync(s)),
          beforeStep: (s) => run.hooks.beforeStep.call(sync(s)),
          afterStep: async (logs, s) => {
            const { step, epoch, loss, lr, ...extra } = logs;
            run.hooks.afterStep.call({ step, epoch, loss, lr, ...extra }, sync(s));
            if (cfg.maxSteps !== undefined && s.step >= cfg.maxSteps) stopAtMax.abort();
            // The step loop only awaits microtasks; a turn of the event loop lets a signal handler (Ctrl-C) run and abort.
            if (options.signal) await new Promise<void>((resolve) => setImmediate(resolve));
          },
          afterEpoch: (logs, s) => run.hooks.afterEpoch.promise({ epoch: logs.epoch, trainLoss: logs.trainLoss, eval: logs.metrics }, sync(s)),
          afterEval: (logs, s) => run.hooks.afterEval.promise({ epoch: logs.epoch, step: logs.step, eval: logs.metrics }, sync(s)),
        },
      });
      options.onResult?.(result);
      await run.hooks.afterTrain.promise(sync(result.state));
      const last = result.epochLogs.at(-1);
      const lastStep = result.stepLogs.at(-1);
      const report: TrainReport = {};
      if (result.best) Object.assign(report, { best: result.best, last: result.last });
      // The test split once, at the end, with the weights the run keeps (saveBest's best).
      const test = dataset.splits?.test;
      if (test?.length && result.stoppedBy !== 'aborted') {
        const metrics = model.predict && model.labels ? evaluateClassifier(model, test, cfg.batchSize) : evaluateLoss(model, test, cfg.batchSize);
        report.test = { ...metrics, count: test.length };
      }
      run.context.state.set(TRAIN_REPORT, report);
      // evalStrategy 'end' and train.maxSteps stopped the run before its last epoch ended: the one evaluation now.
      const stoppedAtMax = stopAtMax.signal.aborted && !options.signal?.aborted;
      const endEvaluation = cfg.evalStrategy === 'end' && stoppedAtMax && validation?.length && model.predict ? evaluateClassifier(model, validation, cfg.batchSize) : undefined;
      // The metrics of the weights kept: saveBest's best evaluation, else the last epoch's.
      const kept = endEvaluation ?? result.best?.metrics ?? last?.metrics ?? (lastStep ? { train_loss: lastStep.loss } : {});
      return { ...kept, steps: result.state.step };
    },
  };
}
