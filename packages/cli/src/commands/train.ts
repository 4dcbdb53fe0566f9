import { saveRunFolder } from '@leantune/core';
import { createTrainDriver } from '@leantune/train';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';
import { summarize, type RunSummary } from './run-summary';

/** `leantune train`: config → toolkit → run → fit. Ctrl-C stops after the current step. */
export async function runTrain(configFile: string | undefined, io: CliIO, override?: Record<string, unknown>): Promise<RunSummary> {
  const { toolkit, config, configDir } = await fromConfig(configFile, override);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    toolkit.trainer ??= createTrainDriver({ signal: stop.signal });
    const run = toolkit.createRun(config, { configDir });
    run.hooks.afterEpoch.tapPromise('leantune-cli', async (logs) => {
      const evalText = logs.eval ? Object.entries(logs.eval).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') : '';
      io.err(`epoch ${logs.epoch + 1}/${config.train.epochs}: ${evalText}\n`);
    });
    const started = performance.now();
    const metrics = await run.fit();
    const trainSeconds = (performance.now() - started) / 1000;
    const saved = await saveRunFolder(run, metrics, io.cwd);
    const summary = summarize(run, metrics, saved, trainSeconds);
    io.out(`${JSON.stringify(summary)}\n`);
    return summary;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
