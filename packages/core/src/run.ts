import { formatBackendInfo, initBackend, parseQuantizeSpec, quantizeModule, setGradientCheckpointing, setSeed, tf, type Parameter, type QuantizeModuleReport } from '@leantune/tensor';
import type { Toolkit } from './toolkit';
import type { MethodContext, RunContext } from './context';
import { ConfigError, RunError, errorMessage, pluginFrames } from './errors';
import { STAGE, createRunHooks, type RunHooks } from './hooks';
import type { JSONSchema, MethodHandle, RegisteredMethod } from './methods';
import { missingPoints } from './model-points';
import { formatStageDrops } from './data-reports';
import { unknownModelError } from './providers';
import { applyStructureEdits } from './structure-edits';
import { didYouMean } from './suggest';
import type { ResolvedConfig } from './config/schema';
import type { Artifacts, Dataset, DatasetSpec, LoadedModel, Logger, Metrics } from './types';

/** One method applied to a run's model: its definition, the handle that owns its state, and where it came from. */
export interface AppliedMethod {
  id: string;
  method: RegisteredMethod;
  handle: MethodHandle;
  from: 'config' | 'adapter';
}

/** Runs the training loop of a prepared run; @leantune/train provides the standard one. */
export interface TrainDriver {
  fit(run: Run, model: LoadedModel, dataset: Dataset): Promise<Metrics>;
  /** JSON Schema of the config's `train` section: the trainer registers its own, applied in the second pass. */
  configSchema?: JSONSchema;
  /** Checks a resolved `train` section before anything runs (e.g. an impossible schedule); `file` prefixes messages. */
  checkConfig?(train: Record<string, unknown>, file?: string): void;
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
  /** What `model.quantize` stored quantized (set by loadModel; undefined without it). */
  quantization?: QuantizeModuleReport;

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
      datasetLabels: async () => (config.data ? datasetLabels(await this.loadLabelledData()) : undefined),
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

  /**
   * The methods applied to this run's model, in order: the config's, then adapters loaded on
   * top. Each handle owns its method's state; the run owns the handles.
   */
  readonly methods: AppliedMethod[] = [];

  private loadingBase?: Promise<LoadedModel>;

  /** loadModel (bail) → modelLoaded → structure edits → freeze all; once per run. No method yet. */
  loadBaseModel(): Promise<LoadedModel> {
    this.loadingBase ??= this.loadBaseModelOnce();
    return this.loadingBase;
  }

  private async loadBaseModelOnce(): Promise<LoadedModel> {
    await this.prepareRuntime();
    const spec = this.config.model;
    const loaded = await this.hooks.loadModel.promise(spec, this.context);
    if (!loaded) {
      throw await unknownModelError(this.toolkit, spec, this.context.configDir);
    }
    await this.hooks.modelLoaded.promise(loaded, this.context);
    for (const line of applyStructureEdits(loaded.module, this.config.edit)) this.context.log.info(`edit: ${line}`);
    loaded.module.freeze();
    this.model = loaded;
    this.context.model = loaded;
    return loaded;
  }

  /**
   * The documented order: the base model, then the dataset stages (ENCODE sees the model in
   * `context.model`, e.g. its tokenizer), then every method's inject, then selectTrainable.
   */
  async prepare(): Promise<{ model: LoadedModel; dataset: Dataset }> {
    await this.loadBaseModel();
    const dataset = await this.loadData();
    return { model: await this.loadModel(), dataset };
  }

  /** The base model with every configured method injected and the trainable set chosen; once per run. */
  async loadModel(): Promise<LoadedModel> {
    const loaded = await this.loadBaseModel();
    if (this.injected) return loaded;
    this.injected = true;
    for (const [id, methodConfig] of Object.entries(this.config.methods)) {
      const method = this.toolkit.methods.get(id);
      if (!method) throw new ConfigError(`Method "${id}" is not registered.${didYouMean(id, this.toolkit.methods.ids())}`);
      const missing = missingPoints(loaded, method.requires ?? []);
      if (missing.length) {
        throw new ConfigError(
          `/methods/${id}: method "${id}" (${method.plugin}) needs the model extension point${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which model "${loaded.name}" (loader ${loaded.loader ?? '?'}, arch ${loaded.arch}) does not provide. Use a model whose loader provides ${missing.length > 1 ? 'them' : 'it'}, or another method.`,
        );
      }
      const mctx: MethodContext = {
        ...this.context,
        method,
        methodConfig,
        arch: loaded.arch,
        defaultTargets: method.defaultTargets?.[loaded.arch] ?? loaded.defaultTargets,
      };
      let handle: MethodHandle | undefined;
      try {
        handle = await this.hooks.inject.for(id).promise(loaded, mctx);
      } catch (err) {
        throw new RunError(`Method "${id}" failed to inject into model "${loaded.name}": ${errorMessage(err)}${pluginFrames(err)}`, { cause: err });
      }
      if (!handle || typeof handle.trains !== 'function') {
        throw new RunError(`Method "${id}" (${method.plugin}) returned no method handle from inject: return an object with trains(path, param) (see MethodHandle in @leantune/core).`);
      }
      this.adopt(id, method, handle, 'config');
    }
    // Checked with the model, before any run folder exists: a model that cannot checkpoint fails here.
    if ((this.config.train as { gradientCheckpointing?: boolean }).gradientCheckpointing && setGradientCheckpointing(loaded.module, true) === 0) {
      throw new ConfigError(`/train/gradientCheckpointing: model "${loaded.name}" has no block stack to checkpoint (its layers are not in a BlockStack); set it to false`);
    }
    const trainable = this.hooks.selectTrainable.call(this.initialTrainable(loaded), loaded.module, this.context);
    loaded.module.freeze();
    loaded.module.unfreeze((path) => trainable.has(path));
    if (this.config.model.quantize !== undefined) this.quantizeBase(loaded, this.config.model.quantize);
    return loaded;
  }

  /**
   * `model.quantize`: once the trainable set is chosen, every frozen Linear/Conv1D weight
   * (the base's, inside a method's wrappers too) is stored quantized and its fp32 variable
   * freed; adapters, embeddings, norms and biases stay fp32. Applied here rather than by each
   * loader so every loader gets it.
   */
  private quantizeBase(loaded: LoadedModel, value: unknown): void {
    let spec;
    try {
      spec = parseQuantizeSpec(value, '/model/quantize');
    } catch (err) {
      throw new ConfigError(errorMessage(err));
    }
    const report = quantizeModule(loaded.module, spec);
    this.quantization = report;
    const log = this.context.log;
    for (const s of report.skipped) log.warn(`model.quantize: ${s.path} stays fp32: ${s.reason}`);
    if (!report.quantized.length) {
      log.warn(`model.quantize: model "${loaded.name}" has no frozen Linear or Conv1D weight to quantize; it runs in fp32`);
      return;
    }
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
    const format = spec.type + (spec.doubleQuant ? ' (double quantization)' : '');
    log.info(`model.quantize: ${report.quantized.length} frozen Linear/Conv1D weights (${report.elements} values) stored as ${format}: ${mb(report.bytesBefore)} → ${mb(report.bytesAfter)}`);
  }

  private injected = false;

  /** Takes ownership of a handle (from inject, or from a method's load of an adapter folder). */
  adopt(id: string, method: RegisteredMethod, handle: MethodHandle, from: AppliedMethod['from']): AppliedMethod {
    if (handle.module && this.model) this.model.module = handle.module;
    const applied: AppliedMethod = { id, method, handle, from };
    this.methods.push(applied);
    return applied;
  }

  /** Whether some applied method trains this parameter. */
  methodTrains(path: string, param: Parameter): boolean {
    return this.methods.some((m) => m.handle.trains(path, param));
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
    const out = new Set<string>();
    for (const [path, param] of model.module.namedParameters()) {
      if (this.methodTrains(path, param)) out.add(path);
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
  private loadingLabelled?: Promise<Dataset>;

  /** loadDataset (bail) → the stage waterfall in STAGE order; once per run. ENCODE and later stages run after the base model is loaded. */
  loadData(): Promise<Dataset> {
    this.loadingData ??= this.loadDataOnce();
    return this.loadingData;
  }

  /**
   * The dataset through the stages before ENCODE (cleaning, labelling, splitting): what a
   * model loader may ask for (class names for a head) while the model is still loading.
   */
  private loadLabelledData(): Promise<Dataset> {
    this.loadingLabelled ??= (async () => {
      const spec = this.config.data;
      if (!spec) throw new ConfigError('The config has no "data" section; add { "data": { "name": "<dataset>" } }.');
      return this.runStages(await this.loadRawDataset(spec), (stage) => stage < STAGE.ENCODE);
    })();
    return this.loadingLabelled;
  }

  private async loadDataOnce(): Promise<Dataset> {
    const labelled = await this.loadLabelledData();
    // ENCODE and later stages may use the model (context.model): it loads first when there are any.
    if (!this.model && this.hooks.datasetStage.taps.some((t) => (t.stage ?? 0) >= STAGE.ENCODE)) await this.loadBaseModel();
    this.dataset = await this.runStages(labelled, (stage) => stage >= STAGE.ENCODE);
    // Every drop is named on the console, not only in data-reports.json: a warning (shown with
    // --quiet too), or information when the config asked for every one of them (a limit).
    for (const report of this.dataset.reports) {
      const drops = formatStageDrops(report);
      if (!drops) continue;
      if (Object.keys(report.dropReasons).every((r) => report.requested?.includes(r))) this.context.log.info(drops);
      else this.context.log.warn(drops);
    }
    return this.dataset;
  }

  /**
   * Runs the taps of the datasetStage waterfall whose stage passes `which`, in stage order,
   * so the waterfall can stop before ENCODE while the model loads and go on afterwards.
   */
  private async runStages(dataset: Dataset, which: (stage: number) => boolean): Promise<Dataset> {
    let current = dataset;
    for (const tap of this.hooks.datasetStage.taps) {
      if (!which(tap.stage ?? 0)) continue;
      const fn = tap.fn as (...args: unknown[]) => unknown;
      let next: unknown;
      if (tap.type === 'async') next = await new Promise((done, fail) => fn(current, this.context, (err: unknown, value: unknown) => (err ? fail(err) : done(value))));
      else next = await fn(current, this.context);
      if (next !== undefined) current = next as Dataset;
    }
    return current;
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
    const { model, dataset } = await this.prepare();
    const metrics = await driver.fit(this, model, dataset);
    return this.hooks.evaluate.promise(metrics, this.context);
  }

  async save(artifacts: Artifacts): Promise<void> {
    await this.hooks.save.promise(artifacts, this.context);
  }
}
