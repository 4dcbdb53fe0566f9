import { join } from 'node:path';
import { loadConfig, type LoadedConfig, type Logger } from '@leantune/core';

/** The config `leantune train` runs when no -c is given. */
export const DEFAULT_CONFIG = join(__dirname, '..', 'defaults', 'default.json');

export async function fromConfig(file: string | undefined, override?: Record<string, unknown>, log?: Logger): Promise<LoadedConfig> {
  return loadConfig(file ?? DEFAULT_CONFIG, { override, log });
}

export { fromInstalled } from '@leantune/runner';
