import semver from 'semver';
import { SyncHook } from 'tapable';
import { ConfigError, LeantuneError, PluginError, errorMessage, pluginFrames } from './errors';
import { DatasetLoaderRegistry, ModelLoaderRegistry, StageRegistry } from './extensions';
import { MethodRegistry, type JSONSchema } from './methods';
import { CommandRegistry } from './commands';
import type { Plugin, PluginContext } from './plugin';
import { Run, type TrainDriver } from './run';
import type { Artifacts, LoadedModel, Logger, Metrics } from './types';
import { CORE_VERSION } from './version';
import { MODEL_QUANTIZE_SCHEMA, envelopeSchema, type ResolvedConfig } from './config/schema';
import { SchemaValidator } from './config/validate';
import type { ConfigSource } from './config/load';
import type { PluginOrigin } from './resolve';

/** A plugin to apply, with its options and where it was named (for error messages). */
export interface PluginUse {
  plugin: Plugin<any>;
  options?: Record<string, unknown>;
  /** E.g. "plugins[2] in /x/leantune.json". */
  where?: string;
  /** JSON pointer of the options in the config source, for located validation errors. */
  optionsPointer?: string;
  source?: ConfigSource;
  /** The file the plugin was loaded from and its package, when it was loaded from a config or an install. */
  origin?: PluginOrigin;
}

export type PluginInput = Plugin<any> | [Plugin<any>, Record<string, unknown>?] | PluginUse;

export interface ToolkitOptions {
  plugins?: PluginInput[];
  log?: Logger;
  trainer?: TrainDriver;
  /** Loads a plugin named only as another plugin's dependency. */
  resolveDependency?: (name: string, requiredBy: Plugin<any>) => Promise<PluginUse>;
}

export const stderrLogger: Logger = {
  info: (m) => process.stderr.write(`${m}\n`),
  warn: (m) => process.stderr.write(`warning: ${m}\n`),
};

function toUse(input: PluginInput): PluginUse {
  if (Array.isArray(input)) return { plugin: input[0], options: input[1] };
  if ('plugin' in input) return input;
  return { plugin: input };
}

/**
 * Long-lived: holds the registries and applied plugins. Each experiment is a Run with
 * fresh hooks, tapped from the registries (webpack's Compiler/Compilation split).
 */
export class Toolkit {
  readonly hooks = Object.freeze({ run: new SyncHook<[Run]>(['run']) });
  readonly methods = new MethodRegistry();
  readonly models = new ModelLoaderRegistry();
  readonly datasets = new DatasetLoaderRegistry();
  readonly stages = new StageRegistry();
  /** CLI subcommands plugins add (`ctx.commands.register`). */
  readonly commands = new CommandRegistry();
  readonly plugins: Array<{ plugin: Plugin<any>; options: Record<string, unknown>; origin?: PluginOrigin }> = [];
  readonly validator = new SchemaValidator();
  readonly log: Logger;
  trainer?: TrainDriver;

  constructor(private readonly options: ToolkitOptions = {}) {
    this.log = options.log ?? stderrLogger;
    this.trainer = options.trainer;
  }

  /** Applies plugins in dependency order after checking core ranges and options. */
  async use(inputs: PluginInput[]): Promise<void> {
    const uses = inputs.map(toUse);
    for (const use of uses) this.checkCoreRange(use);
    const ordered = await this.dependencyOrder(uses);
    for (const use of ordered) await this.applyOne(use);
  }

  private checkCoreRange({ plugin, where }: PluginUse): void {
    const { name, version, core } = plugin.meta;
    const at = where ? ` (${where})` : '';
    if (!semver.validRange(core)) {
      throw new PluginError(`Plugin ${name}@${version}${at} declares core range "${core}", which is not a valid semver range.`);
    }
    if (!semver.satisfies(CORE_VERSION, core, { includePrerelease: true })) {
      throw new PluginError(
        `Plugin ${name}@${version}${at} requires @leantune/core ${core}, but this is @leantune/core ${CORE_VERSION}. Install a version of ${name} built for core ${CORE_VERSION}, or a matching core.`,
      );
    }
  }

  private async dependencyOrder(uses: PluginUse[]): Promise<PluginUse[]> {
    const byName = new Map<string, PluginUse>();
    for (const p of this.plugins) byName.set(p.plugin.meta.name, { plugin: p.plugin });
    const pending = [...uses];
    const fresh: PluginUse[] = [];
    while (pending.length) {
      const use = pending.shift()!;
      const { name } = use.plugin.meta;
      if (byName.has(name)) {
        throw new PluginError(`Plugin ${name} is enabled twice${use.where ? ` (${use.where})` : ''}; list it once.`);
      }
      byName.set(name, use);
      fresh.push(use);
      for (const dep of Object.keys(use.plugin.dependencies ?? {})) {
        if (byName.has(dep) || pending.some((u) => u.plugin.meta.name === dep)) continue;
        if (!this.options.resolveDependency) {
          throw new PluginError(`Plugin ${name} depends on ${dep}, which is not enabled. Add "${dep}" to the plugins list.`);
        }
        const depUse = await this.options.resolveDependency(dep, use.plugin);
        this.checkCoreRange(depUse);
        pending.push(depUse);
      }
    }
    // Depth-first topological order, keeping the written order where dependencies allow.
    const done = new Set(this.plugins.map((p) => p.plugin.meta.name));
    const visiting: string[] = [];
    const out: PluginUse[] = [];
    const visit = (use: PluginUse) => {
      const { name } = use.plugin.meta;
      if (done.has(name)) return;
      if (visiting.includes(name)) {
        throw new PluginError(`Plugin dependency cycle: ${[...visiting.slice(visiting.indexOf(name)), name].join(' → ')}`);
      }
      visiting.push(name);
      for (const [dep, range] of Object.entries(use.plugin.dependencies ?? {})) {
        const target = byName.get(dep)!;
        if (!semver.satisfies(target.plugin.meta.version, range, { includePrerelease: true })) {
          throw new PluginError(`Plugin ${name} needs ${dep} ${range}, but ${dep}@${target.plugin.meta.version} is enabled.`);
        }
        visit(target);
      }
      visiting.pop();
      done.add(name);
      out.push(use);
    };
    fresh.forEach(visit);
    return out;
  }

  private async applyOne(use: PluginUse): Promise<void> {
    const { plugin } = use;
    const name = plugin.meta.name;
    const options = use.options ?? {};
    if (use.origin?.warning) this.log.warn(use.origin.warning);
    if (plugin.optionsSchema) {
      this.validator.assert(plugin.optionsSchema, options, use.source, use.optionsPointer ?? '', `Options of plugin ${name}`);
    }
    const ctx: PluginContext<any> = {
      options,
      methods: { register: (def) => this.methods.register(def, name) },
      models: { register: (loader) => this.models.register(loader, name) },
      datasets: { register: (loader) => this.datasets.register(loader, name) },
      stages: { register: (stage) => this.stages.register(stage, name) },
      commands: { register: (def) => this.commands.register(def, name) },
      hooks: this.hooks,
      log: this.log,
    };
    try {
      await plugin.apply(ctx);
    } catch (err) {
      if (err instanceof LeantuneError) throw err;
      throw new PluginError(`Plugin ${name}@${plugin.meta.version} failed in apply(): ${errorMessage(err)}${pluginFrames(err)}`, { cause: err });
    }
    this.plugins.push({ plugin, options, origin: use.origin });
  }

  /** The envelope plus every registered method's and dataset stage's schema. */
  combinedSchema(): JSONSchema {
    const schema = envelopeSchema() as any;
    const methods: Record<string, JSONSchema> = {};
    for (const m of this.methods.list()) methods[m.id] = { description: m.description ?? `${m.family} method from ${m.plugin}`, ...m.configSchema };
    schema.properties.methods = { ...schema.properties.methods, properties: methods, additionalProperties: false };
    const stages: Record<string, JSONSchema> = {};
    for (const s of this.stages.list()) stages[s.name] = s.optionsSchema ?? { type: 'object' };
    schema.properties.data.properties.stages = { type: 'object', properties: stages, additionalProperties: false, default: {} };
    // The trainer's own schema for `train`; without a trainer the section stays an opaque object.
    if (this.trainer?.configSchema) schema.properties.train = { default: {}, ...this.trainer.configSchema };
    return schema;
  }

  /** Config objects this toolkit has resolved: a run of one is not validated again. */
  private readonly resolvedConfigs = new WeakSet<object>();

  /**
   * Both validation passes on a config object, once: the envelope (skipped when the caller
   * already checked it, as loadConfig does before importing plugins), then the registered
   * schemas (methods, stages, the trainer's `train`), then the model and dataset loaders'
   * option schemas. Fills defaults in place and returns it typed; a config this toolkit
   * resolved before is returned as it is.
   */
  resolveConfig(data: unknown, source?: ConfigSource, options: { envelopeChecked?: boolean } = {}): ResolvedConfig {
    if (data && typeof data === 'object' && this.resolvedConfigs.has(data)) return data as ResolvedConfig;
    if (!options.envelopeChecked) this.validator.assert(envelopeSchema(), data, source);
    // Every enabled stage runs (opt-in ones only when named); an empty options object lets its schema defaults apply.
    const stages = (data as { data?: { stages?: Record<string, unknown> } }).data?.stages;
    if (stages) for (const stage of this.stages.list()) if (!stage.optIn) stages[stage.name] ??= {};
    this.validator.assert(this.combinedSchema(), data, source);
    const config = data as ResolvedConfig & { model: string | ResolvedConfig['model'] };
    if (typeof config.model === 'string') config.model = { name: config.model };
    this.checkLoaderOptions(config as ResolvedConfig, source);
    // Without the data only maxSteps bounds the run here; the trainer checks again once the data is loaded.
    this.trainer?.checkConfig?.(config.train, source?.file);
    this.resolvedConfigs.add(config);
    return config as ResolvedConfig;
  }

  /**
   * The options of `model` and `data` against the schema of the loader that will answer them
   * (the first whose test accepts the spec, as the bail hook will ask), `name` excepted.
   */
  private checkLoaderOptions(config: ResolvedConfig, source?: ConfigSource): void {
    const check = (spec: { name: string } | undefined, loaders: Array<{ name: string; plugin: string; test(spec: any): boolean; optionsSchema?: JSONSchema }>, pointer: string, what: string) => {
      if (!spec) return;
      const loader = loaders.find((l) => {
        try {
          return l.test(spec);
        } catch {
          return false;
        }
      });
      if (!loader?.optionsSchema) return;
      const schema = loader.optionsSchema as { properties?: Record<string, unknown> };
      const own = pointer === '/data' ? { name: { type: 'string' }, stages: { type: 'object' } } : { name: { type: 'string' }, quantize: MODEL_QUANTIZE_SCHEMA };
      const withName = { ...loader.optionsSchema, properties: { ...own, ...schema.properties } };
      this.validator.assert(withName, spec, source, pointer, `${what} options for loader "${loader.name}" (${loader.plugin})`);
    };
    check(config.model, this.models.list(), '/model', 'Model');
    check(config.data, this.datasets.list(), '/data', 'Dataset');
  }

  /** A fresh run whose hooks are tapped by every registered extension. */
  createRun(config: ResolvedConfig | Record<string, unknown>, options: { configDir?: string } = {}): Run {
    const resolved = this.resolveConfig(config);
    const run = new Run(this, resolved, this.log, options.configDir);
    for (const loader of this.models.list()) {
      run.hooks.loadModel.tapPromise(loader.name, async (config, ctx) => {
        // model.quantize is the run's (Run.loadModel), not the loader's: loaders that check their own options never see it.
        const { quantize: _quantize, ...spec } = config;
        if (!loader.test(spec)) return undefined;
        return { ...(await loader.load(spec, ctx)), loader: loader.name };
      });
    }
    for (const loader of this.datasets.list()) {
      run.hooks.loadDataset.tapPromise(loader.name, async (spec, ctx) => (loader.test(spec) ? loader.load(spec, ctx) : undefined));
    }
    for (const stage of this.stages.ordered()) {
      // An opt-in stage not named in the config is not tapped at all (so, e.g., it does not make the model load before the data).
      if (stage.optIn && !(resolved.data?.stages && stage.name in resolved.data.stages)) continue;
      run.hooks.datasetStage.tapPromise({ name: stage.name, stage: stage.stage }, async (dataset, ctx) => {
        const options = resolved.data?.stages?.[stage.name] ?? {};
        return stage.run(dataset, options, ctx);
      });
    }
    for (const method of this.methods.list()) {
      run.hooks.inject.for(method.id).tapPromise(method.plugin, async (model, mctx) => method.inject(model, mctx.methodConfig, mctx));
    }
    this.hooks.run.call(run);
    return run;
  }
}

export async function createToolkit(options: ToolkitOptions = {}): Promise<Toolkit> {
  const toolkit = new Toolkit(options);
  if (options.plugins?.length) await toolkit.use(options.plugins);
  return toolkit;
}

export { ConfigError };
