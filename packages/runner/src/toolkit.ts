import {
  ConfigError,
  createToolkit as createCoreToolkit,
  loadConfig,
  loadPlugin,
  pluginEntryParts,
  type LoadedConfig,
  type Logger,
  type PluginUse,
  type Toolkit,
  type ToolkitOptions,
} from '@leantune/core';
import { type RunFolder } from './run-folder';
import { createTrainDriver } from '@leantune/train';
import { fromInstalled } from './installed';

/**
 * `@leantune/core`'s createToolkit with the standard trainer from @leantune/train already
 * set, so `await (await createToolkit({ plugins })).train(config)` works as is.
 */
export async function createToolkit(options: ToolkitOptions = {}): Promise<Toolkit> {
  return createCoreToolkit({ trainer: createTrainDriver(), ...options });
}

/** Logs warnings only: for --quiet and --json, where stderr carries nothing but problems. */
/** A logger that drops info and writes warnings to `write` (default stderr). */
export function warningsTo(write: (text: string) => void): Logger {
  return { info: () => undefined, warn: (m) => write(`warning: ${m}\n`) };
}

export const warningsOnly: Logger = warningsTo((text) => process.stderr.write(text));

/**
 * The toolkit a run folder was trained with: its config's plugins, resolved from the
 * folder the original config lived in (recorded in run.json), so relative plugin paths
 * still work. The stored config is validated again against them.
 */
export async function toolkitForRunFolder(folder: RunFolder, log?: Logger): Promise<LoadedConfig> {
  const fromDir = folder.record.configDir;
  const uses: PluginUse[] = [];
  for (const [i, entry] of (folder.config.plugins ?? []).entries()) {
    const { request, options, allowOutside } = pluginEntryParts(entry);
    const where = `plugins[${i}] of ${folder.dir}/config.json (resolved from ${fromDir})`;
    uses.push({ ...(await loadPlugin(request, fromDir, where, { allowOutside })), options });
  }
  const toolkit = await createToolkit({
    plugins: uses,
    log,
    resolveDependency: async (name, requiredBy) => {
      const where = `dependency of ${requiredBy.meta.name}`;
      return loadPlugin(name, fromDir, where);
    },
  });
  const config = toolkit.resolveConfig(structuredClone(folder.config));
  return { toolkit, config, source: { file: `${folder.dir}/config.json`, data: folder.config, locate: () => undefined }, configDir: fromDir };
}

/** A toolkit from `-c <config>` when given, else from every installed plugin package. */
export async function toolkitFor(options: { config?: string; cwd: string; log?: Logger; warn?: (m: string) => void }): Promise<{ toolkit: Toolkit; loaded?: LoadedConfig }> {
  if (options.config) {
    const loaded = await loadConfig(options.config, { log: options.log, trainer: createTrainDriver() });
    return { toolkit: loaded.toolkit, loaded };
  }
  const toolkit = await fromInstalled(options.cwd, options.warn ?? ((m) => process.stderr.write(`warning: ${m}\n`)));
  toolkit.trainer ??= createTrainDriver();
  return { toolkit };
}

/** A model spec from the command line: a name, a folder, or a JSON object. */
export function parseModelSpec(text: string): { name: string; [option: string]: unknown } {
  if (text.trimStart().startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`--model is not valid JSON (${(err as Error).message}); pass a name such as "use-lite", a folder, or '{"name":"use-lite","maxLength":32}'`);
    }
    if (!value || typeof value !== 'object' || typeof (value as { name?: unknown }).name !== 'string') throw new ConfigError('--model JSON must be an object with a "name"');
    return value as { name: string };
  }
  return { name: text };
}
