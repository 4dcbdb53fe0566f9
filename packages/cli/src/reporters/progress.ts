import { SingleBar } from 'cli-progress';
import { definePlugin, type Plugin } from '@leantune/core';
import { tapTrainEvents, type TrainEvent } from '@leantune/runner';

export interface ProgressOptions {
  /**
   * 'bar': the run folder, then a bar with loss, throughput and ETA (a terminal);
   * 'lines': the run folder, a line when resuming, per epoch and per evaluation;
   * 'quiet': only the run folder.
   */
  mode: 'bar' | 'lines' | 'quiet';
  /** Where the lines go (the command's stderr). */
  write: (text: string) => void;
  /** The terminal the bar draws on (default process.stderr). */
  stream?: NodeJS.WritableStream;
}

/** An evaluation's headline metrics on one line (per-class keys such as "f1/spam" stay in metrics.jsonl). */
function metricLine(metrics: Record<string, number | string>): string {
  return Object.entries(metrics)
    .filter(([k]) => !k.includes('/'))
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`)
    .join(', ');
}

/**
 * Training progress on stderr, as a reporter plugin on each run's hooks: the run folder on
 * its own line first, then a bar on a terminal or epoch and evaluation lines otherwise.
 * `leantune train` applies it unless --json (events on stdout instead); --quiet keeps only
 * the run folder line. The bar belongs to the run it draws and stops when training ends or fails.
 */
export const progressReporter: Plugin<ProgressOptions> = definePlugin<ProgressOptions>({
  meta: { name: '@leantune/cli:progress', version: '0.1.0', core: '^0.1.0', description: 'Training progress on stderr: a bar on a terminal, epoch lines otherwise (applied by leantune train unless --json)' },
  apply(ctx) {
    const { mode, write, stream } = ctx.options;
    ctx.hooks.run.tap('progress', (run) => {
      let bar: SingleBar | undefined;
      const stop = async () => {
        bar?.stop();
        bar = undefined;
      };
      tapTrainEvents(run, 'progress', (e: TrainEvent) => {
        if (e.type === 'start' && !e.resumed) write(`run folder: ${e.dir}\n`);
        if (mode === 'bar') {
          if (e.type === 'start') {
            bar = new SingleBar({
              stream: stream ?? process.stderr,
              format: 'train |{bar}| {value}/{total} steps | epoch {epoch} | loss {loss} | {rate} samples/s | ETA {eta_formatted}',
              hideCursor: true,
            });
            bar.start(e.totalSteps, e.step, { epoch: 1, loss: '-', rate: '-' });
          }
          if (e.type === 'step') bar?.update(e.step, { epoch: e.epoch + 1, loss: e.loss.toFixed(4), rate: e.samplesPerSec.toFixed(1) });
        }
        if (mode === 'lines') {
          if (e.type === 'start' && e.resumed) write(`resuming ${e.dir} at step ${e.step}/${e.totalSteps}\n`);
          if (e.type === 'epoch') {
            const { type: _t, epoch, step: _s, ...metrics } = e;
            write(`epoch ${epoch + 1}: ${metricLine(metrics)}\n`);
          }
          if (e.type === 'eval') {
            const { type: _t, epoch: _e, step, ...metrics } = e;
            write(`step ${step}: ${metricLine(metrics)}\n`);
          }
        }
      });
      run.hooks.afterTrain.tapPromise('progress', stop);
      run.hooks.failed.tapPromise('progress', stop);
    });
  },
});
