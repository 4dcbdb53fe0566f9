import { dirname } from 'node:path';
import { loadConfigFile, type ConfigSource } from './config/load';
import { envelopeSchema, type PluginEntry, type ResolvedConfig } from './config/schema';
import { SchemaValidator } from './config/validate';
import { withEnableHints } from './providers';
import { importPlugin, resolvePlugin } from './resolve';
import { createToolkit, type PluginUse, type Toolkit, type ToolkitOptions } from './toolkit';

export interface LoadedConfig {
  toolkit: Toolkit;
  config: ResolvedConfig;
  source: ConfigSource;
  /** The config file's folder: pass it to createRun so relative paths resolve from there. */
  configDir: string;
}

function entryParts(entry: PluginEntry, index: number): { request: string; options?: Record<string, unknown>; pointer: string } {
  if (typeof entry === 'string') return { request: entry, pointer: `/plugins/${index}/1` };
  if (Array.isArray(entry)) return { request: entry[0], options: entry[1], pointer: `/plugins/${index}/1` };
  return { request: entry.name, options: entry.options, pointer: `/plugins/${index}/options` };
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
    const { request, options: pluginOptions, pointer } = entryParts(entry, i);
    const where = `plugins[${i}] in ${source.file}`;
    const plugin = await importPlugin(resolvePlugin(request, fromDir, where), where);
    uses.push({ plugin, options: pluginOptions, where, optionsPointer: pointer, source });
  }
  const toolkit = await createToolkit({
    ...toolkitOptions,
    plugins: uses,
    resolveDependency: async (name, requiredBy) => {
      const where = `dependency of ${requiredBy.meta.name}`;
      return { plugin: await importPlugin(resolvePlugin(name, fromDir, where), where), where };
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
