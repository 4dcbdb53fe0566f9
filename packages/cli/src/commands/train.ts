import { RunError } from '@leantune/core';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';

/** `leantune train`: config → toolkit → run → fit. */
export async function runTrain(configFile: string | undefined, io: CliIO): Promise<void> {
  const { toolkit, config } = await fromConfig(configFile);
  const run = toolkit.createRun(config);
  if (!toolkit.trainer) throw new RunError('No trainer is available in this build.');
  const metrics = await run.fit();
  io.out(`${JSON.stringify({ run: config.name, metrics })}\n`);
}
