import type { LoadedConfig, Toolkit } from '@leantune/core';
import { readRunFolder } from '@leantune/runner';
import { trainToFolder, type TrainEvent, type TrainOutcome } from '@leantune/runner';
import { toolkitForRunFolder, warningsTo } from '@leantune/runner';
import { Interrupted } from '../exit';
import { progressReporter } from '../reporters/progress';
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

/**
 * The CLI's reporters for a training run: the progress reporter on stderr (a bar on a
 * terminal, lines otherwise, the run folder only with --quiet), none with --json, whose
 * events go to stdout instead. The runner adds the metrics.jsonl reporter itself.
 */
export async function useCliReporters(toolkit: Toolkit, io: CliIO, flags: Pick<TrainFlags, 'quiet' | 'json'>): Promise<void> {
  if (flags.json || toolkit.plugins.some((p) => p.plugin === progressReporter)) return;
  const mode = flags.quiet ? 'quiet' : io.errIsTTY ? 'bar' : 'lines';
  await toolkit.use([{ plugin: progressReporter, options: { mode, write: io.err }, where: 'the progress reporter of leantune train' }]);
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
  await useCliReporters(loaded.toolkit, io, flags);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  // With --json every event is a line on stdout (the start event names the folder).
  const onEvent = flags.json ? (e: TrainEvent) => io.out(`${JSON.stringify(e)}\n`) : undefined;
  let outcome: TrainOutcome;
  try {
    outcome = await trainToFolder(loaded, { baseDir: outputBase(flags, io), resume: flags.resume, signal: stop.signal, onEvent });
  } finally {
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
