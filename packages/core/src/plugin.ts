import type { SyncHook } from 'tapable';
import type { DatasetLoader, DatasetStage, ModelLoader } from './extensions';
import type { JSONSchema, MethodDefinition } from './methods';
import type { Logger } from './types';
import type { Run } from './run';
import type { CommandDefinition } from './commands';

// Plugin commands are part of the plugin API: exported with it.
export * from './commands';

export interface PluginMeta {
  /** Package name, e.g. '@leantune/plugin-lora'. */
  name: string;
  version: string;
  /** semver range of @leantune/core this plugin works with, e.g. '^0.1.0'. */
  core: string;
  description?: string;
}

/** What `apply` receives: registration points plus the toolkit-level hooks. */
export interface PluginContext<O = Record<string, unknown>> {
  /** The plugin's validated options, defaults applied. */
  options: O;
  methods: { register<C>(def: MethodDefinition<C>): void };
  models: { register(loader: ModelLoader): void };
  datasets: { register(loader: DatasetLoader): void };
  stages: { register<SO>(stage: DatasetStage<SO>): void };
  /** CLI subcommands (`leantune data pack`): name, description, arguments and options as data, and run(args, io). */
  commands: { register(def: CommandDefinition): void };
  /** Toolkit hooks: `run` is called for every new Run, to tap its hooks directly. */
  hooks: { run: SyncHook<[Run]> };
  log: Logger;
}

/** A plugin is a plain object (Rollup style): no base class, no inheritance. */
export interface Plugin<O = Record<string, unknown>> {
  meta: PluginMeta;
  optionsSchema?: JSONSchema;
  /** Other plugins (by meta.name) that must be applied first, with a semver range. */
  dependencies?: Readonly<Record<string, string>>;
  apply(ctx: PluginContext<O>): void | Promise<void>;
}

/** Identity function that gives a plugin object its type, as Vite's defineConfig does. */
export function definePlugin<O = Record<string, unknown>>(plugin: Plugin<O>): Plugin<O> {
  return plugin;
}

/** Checks the shape of an object claimed to be a plugin; returns the problems found. */
export function pluginShapeProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object') return ['it does not export an object (export default definePlugin({...}))'];
  const p = value as Partial<Plugin>;
  const problems: string[] = [];
  if (!p.meta || typeof p.meta !== 'object') problems.push('meta is missing');
  else {
    for (const key of ['name', 'version', 'core'] as const) {
      if (typeof p.meta[key] !== 'string' || p.meta[key] === '') problems.push(`meta.${key} must be a non-empty string`);
    }
  }
  if (typeof p.apply !== 'function') problems.push('apply must be a function');
  if (p.optionsSchema !== undefined && (typeof p.optionsSchema !== 'object' || p.optionsSchema === null)) {
    problems.push('optionsSchema must be a JSON Schema object');
  }
  if (p.dependencies !== undefined) {
    const ok =
      typeof p.dependencies === 'object' &&
      p.dependencies !== null &&
      Object.values(p.dependencies).every((r) => typeof r === 'string');
    if (!ok) problems.push('dependencies must map plugin names to semver ranges');
  }
  return problems;
}
