import { join } from 'node:path';
import { loadConfig, type LoadedConfig, type Logger } from '@leantune/core';
import { createTrainDriver } from '@leantune/train';

/** The config `leantune train` runs when no -c is given. */
export const DEFAULT_CONFIG = join(__dirname, '..', 'defaults', 'default.json');

export async function fromConfig(file: string | undefined, override?: Record<string, unknown>, log?: Logger): Promise<LoadedConfig> {
  // The trainer registers the schema of `train` (its defaults fill the config as it is resolved).
  return loadConfig(file ?? DEFAULT_CONFIG, { override, log, trainer: createTrainDriver() });
}

export { fromInstalled } from '@leantune/runner';
