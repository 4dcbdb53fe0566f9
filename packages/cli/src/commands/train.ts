import { SingleBar } from 'cli-progress';
import type { LoadedConfig } from '@leantune/core';
import { readRunFolder } from '@leantune/runner';
import { trainToFolder, type TrainEvent, type TrainOutcome } from '@leantune/runner';
import { toolkitForRunFolder, warningsTo } from '@leantune/runner';
import { Interrupted } from '../exit';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';
import type { RunSummary } from '@leantune/runner';

export interface TrainFlags {
  config?: string;
  override?: Record<string, unknown>;
  /** A run folder to continue from its latest checkpoint. */
  resume?: string;
  quiet?: boolean;
  /** One JSON object per line on stdout: start, step, epoch, checkpoint, then summary. */
  json?: boolean;
}

/** An evaluation's headline metrics on one line (per-class keys such as "f1/spam" stay in metrics.jsonl). */
function metricLine(metrics: Record<string, number | string>): string {
  return Object.entries(metrics)
    .filter(([k]) => !k.includes('/'))
    .map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(4) : v}`)
    .join(', ');
}

/**
 * Progress on stderr: the run folder on its own line first, then a bar with loss,
 * throughput and ETA on a terminal, epoch lines otherwise. With --json every event is a
 * line on stdout instead (the start event names the folder).
 */
function reporter(io: CliIO, flags: TrainFlags): { onEvent: (e: TrainEvent) => void; stop: () => void } {
  if (flags.json) return { onEvent: (e) => io.out(`${JSON.stringify(e)}\n`), stop: () => undefined };
  const folder = (e: TrainEvent) => {
    if (e.type === 'start' && !e.resumed) io.err(`run folder: ${e.dir}\n`);
  };
  if (flags.quiet) return { onEvent: folder, stop: () => undefined };
  if (io.errIsTTY) {
    const bar = new SingleBar({
      stream: process.stderr,
      format: 'train |{bar}| {value}/{total} steps | epoch {epoch} | loss {loss} | {rate} samples/s | ETA {eta_formatted}',
      hideCursor: true,
    });
    return {
      onEvent(e) {
        folder(e);
        if (e.type === 'start') bar.start(e.totalSteps, e.step, { epoch: 1, loss: '-', rate: '-' });
        if (e.type === 'step') bar.update(e.step, { epoch: e.epoch + 1, loss: e.loss.toFixed(4), rate: e.samplesPerSec.toFixed(1) });
      },
      stop: () => bar.stop(),
    };
  }
  return {
    onEvent(e) {
      folder(e);
      if (e.type === 'start' && e.resumed) io.err(`resuming ${e.dir} at step ${e.step}/${e.totalSteps}\n`);
      if (e.type === 'epoch') {
        const { type: _t, epoch, step: _s, ...metrics } = e;
        io.err(`epoch ${epoch + 1}: ${metricLine(metrics)}\n`);
      }
      if (e.type === 'eval') {
        const { type: _t, epoch: _e, step, ...metrics } = e;
        io.err(`step ${step}: ${metricLine(metrics)}\n`);
      }
    },
    stop: () => undefined,
  };
}

/**
 * Where a relative output.dir resolves from: the config file's folder, as plugin paths do
 * (trainToFolder's default); the current folder for the embedded default config, and for
 * an output.dir given with --override on the command line.
 */
export function outputBase(flags: Pick<TrainFlags, 'config' | 'override'>, io: Pick<CliIO, 'cwd'>): string | undefined {
  return !flags.config || flags.override?.output !== undefined ? io.cwd : undefined;
}

/**
 * `leantune train`: config → toolkit → run → fit into a run folder. SIGINT/SIGTERM stop
 * after the current step with a checkpoint (exit 130); --resume continues the run.
 */
export async function runTrain(flags: TrainFlags, io: CliIO): Promise<RunSummary> {
  // Warnings go to the command's stderr (the model's truncation warnings among them).
  const log = flags.quiet || flags.json ? warningsTo(io.err) : undefined;
  let loaded: Pick<LoadedConfig, 'toolkit' | 'config' | 'configDir'>;
  if (flags.resume && !flags.config) loaded = await toolkitForRunFolder(readRunFolder(flags.resume), log);
  else loaded = await fromConfig(flags.config, flags.override, log);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  const progress = reporter(io, flags);
  let outcome: TrainOutcome;
  try {
    outcome = await trainToFolder(loaded, { baseDir: outputBase(flags, io), resume: flags.resume, signal: stop.signal, onEvent: progress.onEvent });
  } finally {
    progress.stop();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  if (outcome.status === 'interrupted') {
    if (flags.json) io.out(`${JSON.stringify({ type: 'interrupted', dir: outcome.dir, step: outcome.step })}\n`);
    throw new Interrupted(`interrupted at step ${outcome.step}; checkpoint saved in ${outcome.dir}/checkpoints. Continue with: leantune train --resume ${outcome.dir}`);
  }
  const summary = outcome.summary!;
  io.out(`${JSON.stringify(flags.json ? { type: 'summary', ...summary } : summary)}\n`);
  return summary;
}
