import { saveRunFolder } from '@leantune/core';
import { createTrainDriver } from '@leantune/train';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';

/** `leantune train`: config → toolkit → run → fit. Ctrl-C stops after the current step. */
export async function runTrain(configFile: string | undefined, io: CliIO): Promise<void> {
  const { toolkit, config, configDir } = await fromConfig(configFile);
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
    const metrics = await run.fit();
    const saved = await saveRunFolder(run, metrics, io.cwd);
    io.out(`${JSON.stringify({ run: config.name, model: config.model.name, methods: Object.keys(config.methods), metrics, dir: saved.dir })}\n`);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}
