import { basename, join, resolve } from 'node:path';
import { definePlugin, errorMessage, type Run } from '@leantune/core';
import { EventFileWriter } from './writer';

export const PLUGIN_NAME = '@leantune/plugin-track-tensorboard';

export interface TensorBoardOptions {
  /**
   * Folder for event files, relative to the config file's folder; each run writes into
   * `<logDir>/<run folder name>` so `tensorboard --logdir <logDir>` lists every run.
   * Default: `<run folder>/tensorboard`.
   */
  logDir?: string;
  /** Write the step scalars every N optimizer steps (evaluations are always written). */
  stepEvery: number;
}

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    logDir: { type: 'string', minLength: 1, description: 'Folder for event files (relative to the config file); default <run folder>/tensorboard' },
    stepEvery: { type: 'integer', minimum: 1, maximum: 1000000000, default: 1, description: 'Write step scalars every N steps' },
  },
} as const;

/** `{ loss, lr, gradNorm, … }` of a step as `train/<name>` tags; step and epoch are not scalars. */
function stepScalars(logs: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(logs)) if (key !== 'step' && key !== 'epoch' && typeof value === 'number') out[`train/${key}`] = value;
  return out;
}

const evalScalars = (metrics: Readonly<Record<string, number>> = {}) => Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`eval/${k}`, v]));

/** Taps one run's hooks. Steps are numbered as in metrics.jsonl (1 after the first optimizer step). */
export function trackRun(run: Run, options: TensorBoardOptions): void {
  const writer = new EventFileWriter();
  let broken = false;
  let trained = false;
  const guarded = (what: string, fn: () => void) => {
    if (broken) return;
    try {
      fn();
    } catch (err) {
      broken = true;
      run.context.log.warn(`track-tensorboard: cannot write the event file (${what}): ${errorMessage(err)}. TensorBoard logging is off for this run; training goes on. Check the "logDir" option or the run folder's disk.`);
    }
  };
  const logDir = () => {
    const { runDir, configDir, runName } = run.context;
    if (options.logDir) return join(resolve(configDir, options.logDir), basename(runDir ?? runName));
    return runDir && join(runDir, 'tensorboard');
  };
  const open = () => {
    const dir = logDir();
    if (dir && !writer.file) run.context.log.info(`TensorBoard event file: ${writer.open(dir)} (tensorboard --logdir ${dir})`);
  };
  const h = run.hooks;
  h.beforeTrain.tapPromise(PLUGIN_NAME, async () => {
    trained = true;
    guarded('open', open);
  });
  h.afterStep.tap(PLUGIN_NAME, (logs) => {
    const step = logs.step + 1;
    if (step % options.stepEvery === 0) guarded(`step ${step}`, () => writer.scalars(step, stepScalars(logs)));
  });
  h.afterEpoch.tapPromise(PLUGIN_NAME, async (logs, state) => {
    guarded(`epoch ${logs.epoch}`, () => writer.scalars(state.step, { 'train/epoch_loss': logs.trainLoss, ...evalScalars(logs.eval) }));
  });
  h.afterEval.tapPromise(PLUGIN_NAME, async (logs) => {
    guarded(`evaluation at step ${logs.step}`, () => writer.scalars(logs.step, evalScalars(logs.eval)));
  });
  h.afterTrain.tapPromise(PLUGIN_NAME, async () => guarded('close', () => writer.close()));
  // A run without a folder before training (the API's run.fit) gets one when it is saved.
  h.save.tapPromise(PLUGIN_NAME, async () => {
    if (trained) guarded('save', () => (open(), writer.close()));
  });
  h.failed.tapPromise(PLUGIN_NAME, async () => guarded('close', () => writer.close()));
}

/** Writes TensorBoard event files for every run: `"plugins": ["track-tensorboard"]`. */
export default definePlugin<TensorBoardOptions>({
  meta: { name: PLUGIN_NAME, version: '0.1.0', core: '^0.1.0', description: 'TensorBoard event files of every step and evaluation' },
  optionsSchema,
  apply(ctx) {
    ctx.hooks.run.tap(PLUGIN_NAME, (run) => trackRun(run, ctx.options));
  },
});

export { EventFileWriter, eventFileName } from './writer';
export { FILE_VERSION, encodeEvent, tfRecord, type TBEvent } from './event';
export { crc32c, maskedCrc32c } from './crc32c';
