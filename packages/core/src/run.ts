import { formatBackendInfo, initBackend, setGradientCheckpointing, setSeed, tf } from '@leantune/tensor';
import type { Toolkit } from './toolkit';
import type { MethodContext, RunContext } from './context';
import { ConfigError, RunError, errorMessage, pluginFrames } from './errors';
import { createRunHooks, type RunHooks } from './hooks';
import { methodTrains } from './methods';
import { unknownModelError } from './providers';
import { applyStructureEdits } from './structure-edits';
import { didYouMean } from './suggest';
import type { ResolvedConfig } from './config/schema';
import type { Artifacts, Dataset, DatasetSpec, LoadedModel, Logger, Metrics } from './types';

/** Runs the training loop of a prepared run; @leantune/train provides the standard one. */
export interface TrainDriver {
  fit(run: Run, model: LoadedModel, dataset: Dataset): Promise<Metrics>;
}

/** Class names a dataset declares, or else the distinct labels of its records, sorted. */
export function datasetLabels(dataset: Dataset): string[] {
  if (dataset.labels?.length) return [...dataset.labels];
  const seen = new Set<string>();
  for (const r of dataset.records) if (r.label !== undefined) seen.add(String(r.label));
  return [...seen].sort();
}

/** No tap of a bail hook answered: say who was asked and what names they know. */
function unrecognised(kind: 'dataset', name: string, taps: ReadonlyArray<{ name: string }>, known: string[]): ConfigError {
  const asked = taps.map((t) => t.name).join(', ') || 'none (enable a data plugin)';
  return new ConfigError(`No ${kind} loader recognised ${kind} "${name}". Loaders asked: ${asked}.${didYouMean(name, known)}`);
}

/**
 * One experiment (webpack's Compilation to the Toolkit's Compiler): fresh hooks and
 * context, tapped by the toolkit's registered extensions and by plugins via hooks.run.
 */
export class Run {
  readonly hooks: Readonly<RunHooks> = createRunHooks();
  readonly context: RunContext;
  model?: LoadedModel;
  dataset?: Dataset;

  constructor(
    readonly toolkit: Toolkit,
    readonly config: ResolvedConfig,
    log: Logger,
    configDir = process.cwd(),
  ) {
    this.context = {
      runName: config.name,
      config,
      tf,
      log,
      seed: config.runtime.seed,
      configDir,
      state: new Map(),
      datasetLabels: async () => (config.data ? datasetLabels(await this.loadData()) : undefined),
      loadDatasetSpec: (spec) => this.loadRawDataset(spec),
    };
  }

  /**
   * Starts the configured backend (LEANTUNE_BACKEND overrides it) and seeds layer init, so
   * the same config gives the same weights. The backend and thread count go in the record.
   */
  async prepareRuntime(): Promise<void> {
    if (this.context.backend) return;
    const { backend, threads, seed } = this.config.runtime;
    try {
      this.context.backend = await initBackend({ backend, threads, log: (m) => this.context.log.warn(m) });
    } catch (err) {
      throw new RunError(`Could not start the compute backend: ${errorMessage(err)}`, { cause: err });
    }
    setSeed(seed);
    this.context.log.info(`leantune: ${formatBackendInfo(this.context.backend)}`);
  }

  /** loadModel (bail) → modelLoaded → freeze all → inject per method → selectTrainable. */
  async loadModel(): Promise<LoadedModel> {
    await this.prepareRuntime();
    const spec = this.config.model;
    const loaded = await this.hooks.loadModel.promise(spec, this.context);
    if (!loaded) {
      throw await unknownModelError(this.toolkit, spec, this.context.configDir);
    }
    await this.hooks.modelLoaded.promise(loaded, this.context);
    for (const line of applyStructureEdits(loaded.module, this.config.edit)) this.context.log.info(`edit: ${line}`);
    loaded.module.freeze();
    for (const [id, methodConfig] of Object.entries(this.config.methods)) {
      const method = this.toolkit.methods.get(id);
      if (!method) throw new ConfigError(`Method "${id}" is not registered.${didYouMean(id, this.toolkit.methods.ids())}`);
      const mctx: MethodContext = {
        ...this.context,
        method,
        methodConfig,
        arch: loaded.arch,
        defaultTargets: method.defaultTargets?.[loaded.arch],
      };
      try {
        loaded.module = await this.hooks.inject.for(id).promise(loaded.module, mctx);
      } catch (err) {
        throw new RunError(`Method "${id}" failed to inject into model "${loaded.name}": ${errorMessage(err)}${pluginFrames(err)}`, { cause: err });
      }
    }
    // Checked with the model, before any run folder exists: a model that cannot checkpoint fails here.
    if (this.config.train.gradientCheckpointing && setGradientCheckpointing(loaded.module, true) === 0) {
      throw new ConfigError(`/train/gradientCheckpointing: model "${loaded.name}" has no block stack to checkpoint (its layers are not in a BlockStack); set it to false`);
    }
    const trainable = this.hooks.selectTrainable.call(this.initialTrainable(loaded), loaded.module, this.context);
    loaded.module.freeze();
    loaded.module.unfreeze((path) => trainable.has(path));
    this.model = loaded;
    return loaded;
  }

  /** Parameters the enabled methods own, plus the config's explicit `trainable` patterns. */
  private initialTrainable(model: LoadedModel): Set<string> {
    const patterns = this.config.trainable.map((source, i) => {
      try {
        return new RegExp(`^(?:${source})$`);
      } catch (err) {
        throw new ConfigError(`/trainable/${i}: "${source}" is not a valid regular expression (${errorMessage(err)})`);
      }
    });
    const hits = patterns.map(() => 0);
    const methods = Object.entries(this.config.methods).map(([id, cfg]) => ({ def: this.toolkit.methods.get(id)!, cfg }));
    const out = new Set<string>();
    for (const [path, param] of model.module.namedParameters()) {
      for (const { def, cfg } of methods) {
        if (methodTrains(def, path, param, cfg)) out.add(path);
      }
      patterns.forEach((re, i) => {
        if (re.test(path)) {
          out.add(path);
          hits[i]++;
        }
      });
    }
    hits.forEach((n, i) => {
      if (n === 0) this.context.log.warn(`/trainable/${i}: pattern "${this.config.trainable[i]}" matches no parameter`);
    });
    return out;
  }

  private loadingData?: Promise<Dataset>;

  /** loadDataset (bail) → the stage waterfall in STAGE order; once per run. */
  loadData(): Promise<Dataset> {
    this.loadingData ??= this.loadDataOnce();
    return this.loadingData;
  }

  private async loadDataOnce(): Promise<Dataset> {
    const spec = this.config.data;
    if (!spec) throw new ConfigError('The config has no "data" section; add { "data": { "name": "<dataset>" } }.');
    const loaded = await this.loadRawDataset(spec);
    this.dataset = await this.hooks.datasetStage.promise(loaded, this.context);
    return this.dataset;
  }

  /** loadDataset (bail) alone: the dataset as its loader returns it, before any stage. */
  private async loadRawDataset(spec: DatasetSpec): Promise<Dataset> {
    if (typeof spec?.name !== 'string' || spec.name === '') {
      throw new ConfigError(`A dataset spec needs a "name" naming the dataset (got ${JSON.stringify(spec)})`);
    }
    const loaded = await this.hooks.loadDataset.promise(spec, this.context);
    if (!loaded) {
      throw unrecognised('dataset', spec.name, this.hooks.loadDataset.taps, this.toolkit.datasets.list().flatMap((l) => l.datasets ?? []));
    }
    return loaded;
  }

  /** Model and data, then the driver's loop, then evaluate and save hooks. */
  async fit(driver: TrainDriver | undefined = this.toolkit.trainer): Promise<Metrics> {
    if (!driver) throw new RunError('No trainer is configured: create the toolkit with { trainer } (e.g. from @leantune/train).');
    const model = this.model ?? (await this.loadModel());
    const dataset = this.dataset ?? (await this.loadData());
    const metrics = await driver.fit(this, model, dataset);
    return this.hooks.evaluate.promise(metrics, this.context);
  }

  async save(artifacts: Artifacts): Promise<void> {
    await this.hooks.save.promise(artifacts, this.context);
  }
}
