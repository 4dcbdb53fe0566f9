import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConfigError, didYouMean, type CompareEntry, type ConfigSource } from '@leantune/core';
import type { PlannedArm } from '@leantune/report';

/**
 * The experiments package (SQLite through better-sqlite3, Vega for the report) loads only for
 * `compare` and `report`: every other command starts without the native SQLite module.
 */
const experiments = () => import('@leantune/report');
import { Interrupted } from '../exit';
import type { CliIO } from '../main';
import { fromConfig } from '../toolkit-from-args';

export const BIN = join(__dirname, '..', '..', 'bin', 'leantune.js');

export interface CompareFlags {
  config?: string;
  methods?: string;
  seeds?: string;
  concurrency?: string;
  resume?: string;
  metric?: string;
  queue?: string;
  attempts?: string;
}

interface BaseArm {
  id: string;
  label: string;
  config: Record<string, unknown>;
  /** The arm's own model options, merged over the config's model. */
  model?: Record<string, unknown>;
  /** The arm's own train options (e.g. { learningRate: 0.02 }), merged over the config's train; a sweep's train values go on top. */
  armTrain?: Record<string, unknown>;
}

function toArm(entry: CompareEntry, configured: Record<string, Record<string, unknown>>): BaseArm {
  if (typeof entry === 'string') return { id: entry, label: entry, config: configured[entry] ?? {} };
  return { id: entry.id, label: entry.label ?? entry.id, config: entry.config ?? configured[entry.id] ?? {}, ...(entry.model ? { model: entry.model } : {}), ...(entry.train ? { armTrain: entry.train } : {}) };
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${flag} takes a whole number of 1 or more, got "${text}".`);
  return n;
}

/**
 * `leantune compare`: every method on the same model, data and schedule, once per seed,
 * each run in its own process, all of it kept in <output.dir>/experiments.sqlite.
 * Arm configs are validated before the first run starts.
 */
export async function runCompare(flags: CompareFlags, io: CliIO): Promise<void> {
  const { toolkit, config, source, configDir } = await fromConfig(flags.config);
  const entries: CompareEntry[] | undefined = flags.methods ? flags.methods.split(',').map((s) => s.trim()) : config.compare?.methods;
  if (!entries?.length) {
    throw new ConfigError(`Nothing to compare in ${source.file}: add "compare": { "methods": ["lora", "adapter", ...] } or pass --methods lora,adapter`);
  }
  const seedCount = flags.seeds === undefined ? undefined : positiveInt('--seeds', flags.seeds);
  const concurrency = flags.concurrency === undefined || flags.concurrency === 'auto' ? 'auto' : positiveInt('--concurrency', flags.concurrency);
  const seeds = seedCount === undefined ? (flags.resume ? undefined : [config.runtime.seed]) : Array.from({ length: seedCount }, (_, i) => config.runtime.seed + i);
  const { base, arms, trainOf, modelOf } = await planCompareArms(toolkit, config, source, entries);
  // Runs and the store share output.dir, from the config's folder (the embedded default: the current one).
  const dir = resolve(flags.config ? configDir : io.cwd, config.output.dir);
  const runOverride = (arm: { label: string; method: string; config: Record<string, unknown> }, seed: number) => ({
    methods: { [arm.method]: arm.config },
    runtime: { ...config.runtime, seed },
    ...(trainOf.has(arm.label) ? { train: trainOf.get(arm.label) } : {}),
    ...(modelOf.has(arm.label) ? { model: modelOf.get(arm.label) } : {}),
  });
  const queue = flags.queue === undefined ? undefined : await queueTarget(flags, config, source.data, toolkit.plugins, dir, runOverride);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    const { runComparison, storeFileIn, terminalProgress } = await experiments();
    const { experiment, result, text } = await userErrors(() => runComparison({
      storeFile: storeFileIn(dir),
      name: config.name,
      configFile: source.file,
      config: base as unknown as Record<string, unknown>,
      arms,
      seeds,
      primaryMetric: flags.metric ?? 'accuracy',
      resume: flags.resume,
      concurrency,
      environment: { backend: config.runtime.backend === 'auto' ? undefined : config.runtime.backend, threads: config.runtime.threads, packages: ['@leantune/core', '@leantune/cli', '@leantune/tensor', '@tensorflow/tfjs-core', 'better-sqlite3'] },
      progress: terminalProgress(io.err, io.errIsTTY ? process.stderr : undefined),
      signal: stop.signal,
      queue,
      onStart: (e, runs) => io.err(`compare: experiment ${e.name} in ${storeFileIn(dir)}: ${arms.length} arms × ${e.seeds.length} seeds (${e.seeds.join(', ')})\n${
        runs.added.length ? `compare: added ${runs.added.join(', ')} to it, on the same seeds; its other arms' completed runs are kept\n` : ''}`),
      commandFor: (arm, seed, attempt) => ({
        command: process.execPath,
        args: [BIN, 'train', '-c', source.file, '--json', '--override', JSON.stringify({ name: `${config.name}-${arm.label}-seed${seed}-try${attempt}`, ...runOverride(arm, seed) })],
        cwd: io.cwd,
      }),
    }));
    io.out(`${text}\n\nExperiment ${experiment.name} (${result.completed} runs completed now, ${result.skipped} before, ${result.failed} failed). Report: leantune report ${experiment.name} --store ${storeFileIn(dir)}\n`);
    if (result.interrupted) throw new Interrupted(`compare interrupted; continue with: leantune compare -c ${source.file}${flags.queue ? ` --queue ${flags.queue}` : ''} --resume ${experiment.name}${flags.queue ? ' (the runs go on on the workers meanwhile)' : ''}`);
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

type LoadedConfig = Awaited<ReturnType<typeof fromConfig>>;

/** What planCompareArms returns: named rather than inferred, so the declaration emitted for this package does not spell the config's type out (that made a clean `tsc -b` probe other packages' outputs before they were built). */
export interface CompareArmsPlan {
  /** The config without its compare section, the copy each arm's config is merged over. */
  base: LoadedConfig['config'];
  arms: PlannedArm[];
  trainOf: Map<string, Record<string, unknown>>;
  modelOf: Map<string, Record<string, unknown>>;
}

/**
 * The arms `compare` will run: each entry with its method options, expanded by the config's
 * sweep section, with its own train and model options merged over the config's, each one
 * resolved (validated) as a whole config now, so a typo in the last arm fails before the
 * first arm trains. `leantune validate` runs the same check.
 */
export async function planCompareArms(toolkit: LoadedConfig['toolkit'], config: LoadedConfig['config'], source: ConfigSource, entries: CompareEntry[]): Promise<CompareArmsPlan> {
  const base: LoadedConfig['config'] = { ...structuredClone(config), compare: undefined };
  const bases = entries.map((entry) => toArm(entry, config.methods));
  for (const arm of bases) {
    if (!toolkit.methods.has(arm.id)) {
      throw new ConfigError(`compare: method "${arm.id}" is not registered by the enabled plugins.${didYouMean(arm.id, toolkit.methods.ids())} Registered: ${toolkit.methods.ids().join(', ')}`);
    }
  }
  // A sweep section expands each arm into one per point (its own method's options and the train options).
  const swept = config.sweep ? await sweptArms(bases, config.sweep, source) : bases.map((a) => ({ ...a, train: undefined }));
  const rawTrain = ((source.data as { train?: Record<string, unknown> }).train ?? {}) as Record<string, unknown>;
  /** The train section a swept arm runs with (the config file's, with the sweep's values): by label, for each run's --override. */
  const trainOf = new Map(swept.filter((a) => a.train || a.armTrain).map((a) => [a.label, deepMerge(deepMerge(rawTrain, a.armTrain ?? {}), a.train ?? {})]));
  /** The model section an arm with its own model options runs with (the config file's, merged with them): by label, for each run's --override. */
  const rawModel = (source.data as { model?: unknown }).model;
  const modelOf = new Map(swept.filter((a) => a.model).map((a) => [a.label, deepMerge(typeof rawModel === 'string' ? { name: rawModel } : ((rawModel ?? {}) as Record<string, unknown>), a.model!)]));
  const arms: PlannedArm[] = swept.map((arm) => {
    const train = trainOf.get(arm.label);
    const model = modelOf.get(arm.label);
    // Validate now (on a copy): a typo in the last arm must not cost the first arms' training.
    let resolvedConfig;
    try {
      resolvedConfig = toolkit.resolveConfig({
        ...structuredClone(base),
        sweep: undefined,
        name: `${config.name}-${arm.label}`,
        methods: { [arm.id]: structuredClone(arm.config) },
        ...(train ? { train: deepMerge(structuredClone(base.train), train) } : {}),
        ...(model ? { model: deepMerge(structuredClone(base.model), model) } : {}),
      });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      throw new ConfigError(`${source.file}: compare arm "${arm.label}" (the config with this arm's method options${arm.model ? ', model options' : ''}${train ? ', train options' : ''}) is invalid; fix the arm in compare.methods. ${err.message}`, { cause: err });
    }
    return { label: arm.label, method: arm.id, config: arm.config, resolvedConfig: resolvedConfig as unknown as Record<string, unknown> };
  });
  return { base, arms, trainOf, modelOf };
}

/** The compare arms expanded by the config's sweep section, checked against its schema first. */
async function sweptArms(bases: BaseArm[], sweep: unknown, source: ConfigSource) {
  const { sweepArms, validateSweep } = await import('@leantune/queue');
  return sweepArms(bases, validateSweep(sweep, source));
}

/** `over` laid onto `base`, objects merged key by key (a copy). */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? deepMerge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** A JSON copy of the config for the queue, refusing one with code in it: a job carries config data only. */
function configData(data: unknown, path = 'config'): unknown {
  if (typeof data === 'function' || typeof data === 'symbol' || typeof data === 'bigint') {
    throw new ConfigError(`compare --queue: ${path} is a ${typeof data}; runs on a queue carry config data only (JSON), never code. Move it into a plugin the workers install.`);
  }
  if (data && typeof data === 'object') {
    if (Array.isArray(data)) return data.map((v, i) => configData(v, `${path}[${i}]`));
    return Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined).map(([k, v]) => [k, configData(v, `${path}.${k}`)]));
  }
  return data;
}

/** Where `compare --queue` puts its runs, and each run's job: the config file's data and the arm's and seed's overrides. */
async function queueTarget(
  flags: CompareFlags,
  config: Awaited<ReturnType<typeof fromConfig>>['config'],
  data: unknown,
  plugins: ReadonlyArray<{ plugin: { meta: { name: string; version: string } } }>,
  dir: string,
  runOverride: (arm: { label: string; method: string; config: Record<string, unknown> }, seed: number) => Record<string, unknown>,
): Promise<NonNullable<Parameters<Awaited<ReturnType<typeof experiments>>['runComparison']>[0]['queue']>> {
  const { redisConnection, QueueConfigError } = await import('@leantune/queue');
  try {
    redisConnection(flags.queue!);
  } catch (err) {
    if (err instanceof QueueConfigError) throw new ConfigError(err.message);
    throw err;
  }
  const json = configData(data) as Record<string, unknown>;
  const attempts = flags.attempts === undefined ? 3 : positiveInt('--attempts', flags.attempts);
  return {
    url: flags.queue!,
    attempts,
    backoffMs: Number(process.env.LEANTUNE_QUEUE_BACKOFF_MS) || 2000,
    resultsDir: dir,
    jobFor: (arm, run) => ({
      v: 1,
      experiment: String(arm.experimentId),
      runId: run.id,
      arm: arm.label,
      method: arm.method,
      seed: run.seed,
      config: json,
      override: runOverride(arm, run.seed),
      name: `${config.name}-${arm.label}-seed${run.seed}`,
      plugins: plugins.map(({ plugin }) => ({ name: plugin.meta.name, version: plugin.meta.version })),
    }),
  };
}

/** The store's user mistakes (an unknown experiment, a resume that no longer matches) are config errors: exit 2. */
async function userErrors<T>(f: () => T | Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof (await experiments()).ExperimentError) throw new ConfigError(err.message);
    throw err;
  }
}

/** `leantune report`: the HTML page, tables and per-run results files of an experiment. */
export async function runReport(experiment: string, flags: { store?: string; output?: string }, io: CliIO): Promise<void> {
  const { ExperimentStore, storeFileIn, writeReport } = await experiments();
  const storeFile = resolve(io.cwd, flags.store ?? storeFileIn('runs'));
  if (!existsSync(storeFile)) {
    throw new ConfigError(`No experiment store at ${storeFile}: run \`leantune compare\` first, or pass --store <output.dir>/experiments.sqlite (compare prints the path).`);
  }
  const store = await userErrors(() => ExperimentStore.open(storeFile));
  try {
    const exp = await userErrors(() => store.experiment(experiment));
    const html = resolve(io.cwd, flags.output ?? join(storeFile, '..', 'reports', exp.name, 'report.html'));
    const files = writeReport(store, experiment, html);
    io.out(`Wrote ${files.html}\n      ${files.markdown}\n      ${files.csv}\n      ${files.results.length} results files in ${join(html, '..', 'results')}\n`);
  } finally {
    store.close();
  }
}
