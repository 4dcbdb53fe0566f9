import { dirname } from 'node:path';
import { loadConfigFile, type ConfigSource } from './config/load';
import { envelopeSchema, type PluginEntry, type ResolvedConfig } from './config/schema';
import { SchemaValidator } from './config/validate';
import { withEnableHints } from './providers';
import { loadPlugin, pluginEntryParts } from './resolve';
import { createToolkit, type PluginUse, type Toolkit, type ToolkitOptions } from './toolkit';

export interface LoadedConfig {
  toolkit: Toolkit;
  config: ResolvedConfig;
  source: ConfigSource;
  /** The config file's folder: pass it to createRun so relative paths resolve from there. */
  configDir: string;
}

function optionsPointer(entry: PluginEntry, index: number): string {
  return typeof entry === 'object' && !Array.isArray(entry) ? `/plugins/${index}/options` : `/plugins/${index}/1`;
}

/**
 * Config file → toolkit: envelope check, plugins resolved from the file's folder and
 * applied in dependency order, then the second pass with every registered schema.
 * Nothing is written: a bad config fails before any run starts.
 */
export async function loadConfig(
  path: string,
  options: Omit<ToolkitOptions, 'plugins'> & { override?: Record<string, unknown> } = {},
): Promise<LoadedConfig> {
  const { override, ...toolkitOptions } = options;
  const source = await loadConfigFile(path);
  // Top-level keys replaced before validation: how `compare` runs one variant of a config.
  if (override && source.data && typeof source.data === 'object') Object.assign(source.data, override);
  new SchemaValidator().assert(envelopeSchema(), source.data, source);
  const fromDir = dirname(source.file);
  const entries = ((source.data as { plugins?: PluginEntry[] }).plugins ?? []) as PluginEntry[];
  const uses: PluginUse[] = [];
  for (const [i, entry] of entries.entries()) {
    const { request, options: pluginOptions, allowOutside } = pluginEntryParts(entry);
    const where = `plugins[${i}] in ${source.file}`;
    uses.push({ ...(await loadPlugin(request, fromDir, where, { allowOutside })), options: pluginOptions, optionsPointer: optionsPointer(entry, i), source });
  }
  const toolkit = await createToolkit({
    ...toolkitOptions,
    plugins: uses,
    resolveDependency: async (name, requiredBy) => {
      const where = `dependency of ${requiredBy.meta.name}`;
      return loadPlugin(name, fromDir, where);
    },
  });
  let config: ResolvedConfig;
  try {
    // The envelope passed above, before any plugin was imported: only the second pass is left.
    config = toolkit.resolveConfig(source.data, source, { envelopeChecked: true });
  } catch (err) {
    // An unknown method or stage that an installed plugin provides: say which one to enable.
    throw await withEnableHints(err, source.data, toolkit, fromDir);
  }
  return { toolkit, config, source, configDir: fromDir };
}
