import { queueNameFor } from '@leantune/queue';
import { analyze, verdict, type Analysis } from './analysis';
import { captureEnvironment } from './environment';
import { runExperiment, type ProgressSink, type QueueTarget, type RunCommand, type RunExperimentResult } from './runner';
import { ExperimentError, ExperimentStore, type ArmRow, type ExperimentRow } from './store';
import { markdownTable } from './tables';

/** One arm as the caller validated it: what it trains and the config it resolves to. */
export interface PlannedArm {
  label: string;
  method: string;
  /** The method's own options. */
  config: Record<string, unknown>;
  /** The arm's whole config, resolved, for the record and for checking a resume. */
  resolvedConfig: Record<string, unknown>;
}

export interface ComparisonOptions {
  /** The SQLite file (created when missing). */
  storeFile: string;
  /** Name for a new experiment (a time stamp is appended). */
  name: string;
  configFile?: string;
  config: Record<string, unknown>;
  arms: PlannedArm[];
  /** Seeds for a new experiment; with resume, when given, they must be the experiment's. */
  seeds?: number[];
  primaryMetric: string;
  /** Continue this experiment (name or id) instead of starting one. */
  resume?: string;
  concurrency: number | 'auto';
  commandFor: (arm: ArmRow, seed: number, attempt: number) => RunCommand;
  environment?: { backend?: string; threads?: number; packages?: string[] };
  progress?: ProgressSink;
  signal?: AbortSignal;
  /** Run on a BullMQ queue named after the experiment instead of the local pool. */
  queue?: Omit<QueueTarget, 'name'>;
  /**
   * Called once the experiment exists, before the first run starts. `added`: the arms a resume
   * added to the experiment (new labels in the config), in order.
   */
  onStart?: (experiment: ExperimentRow, runs: { total: number; todo: number; added: string[] }) => void;
}

export interface ComparisonResult {
  experiment: ExperimentRow;
  result: RunExperimentResult;
  analysis: Analysis;
  /** The Markdown table and the verdict, as `leantune compare` prints them. */
  text: string;
}

/** Dotted paths where two JSON values differ (at most `limit`). */
export function jsonDifferences(a: unknown, b: unknown, path = '', out: string[] = [], limit = 6): string[] {
  if (out.length >= limit) return out;
  if (a && b && typeof a === 'object' && typeof b === 'object' && Array.isArray(a) === Array.isArray(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
      jsonDifferences((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out, limit);
    }
    return out;
  }
  const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v));
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path || '(root)'}: ${show(a)} → ${show(b)}`);
  return out;
}

const stamp = () => new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

/** Fields that document a config and change nothing a run does: a resume does not compare them. */
const DESCRIPTIVE_FIELDS = ['description'];

function withoutDescriptions(config: unknown): unknown {
  if (config == null || typeof config !== 'object' || Array.isArray(config)) return config;
  return Object.fromEntries(Object.entries(config).filter(([k]) => !DESCRIPTIVE_FIELDS.includes(k)));
}

/**
 * Opens the experiment to resume. Its seeds, and every arm it has, must be what the config file
 * gives now (resolved alike, descriptions aside); arms the config adds join the experiment with
 * a pending run per seed, so one more method is compared on the very seeds of the others
 * without rerunning them. An arm the config no longer has is refused.
 */
function openForResume(store: ExperimentStore, o: ComparisonOptions): { experiment: ExperimentRow; added: string[] } {
  const exp = store.experiment(o.resume!);
  const where = o.configFile ?? 'the config';
  if (o.seeds && JSON.stringify(o.seeds) !== JSON.stringify(exp.seeds)) {
    throw new ExperimentError(`Cannot resume ${exp.name} with seeds ${o.seeds.join(', ')}: it was started with ${exp.seeds.join(', ')}. Leave --seeds out when resuming, or start a new comparison.`);
  }
  const stored = store.arms(exp.id);
  const labels = (xs: Array<{ label: string }>) => xs.map((x) => x.label).join(', ');
  const dropped = stored.filter((s) => !o.arms.some((a) => a.label === s.label));
  if (dropped.length) {
    throw new ExperimentError(`Cannot resume ${exp.name}: it compares ${labels(stored)} but ${where} now gives ${labels(o.arms)}, without ${labels(dropped)}. Resume with every method it has (a config may add new ones), or start a new comparison.`);
  }
  for (const before of stored) {
    const arm = o.arms.find((a) => a.label === before.label)!;
    const diff = jsonDifferences(withoutDescriptions(before.resolvedConfig), withoutDescriptions(arm.resolvedConfig));
    if (diff.length) {
      throw new ExperimentError(`Cannot resume ${exp.name}: arm "${arm.label}" resolves differently from ${where} than when it started (${diff.join('; ')}). Restore the config, or start a new comparison.`);
    }
  }
  const added = o.arms.filter((a) => !stored.some((s) => s.label === a.label));
  if (!added.length) return { experiment: exp, added: [] };
  store.addArms(exp.id, added);
  // Re-read: adding arms opened the experiment again (its status).
  return { experiment: store.experiment(String(exp.id)), added: added.map((a) => a.label) };
}

/**
 * Creates (or resumes) an experiment in the store, runs what is left of it in a process
 * pool, and analyses it: the flow behind `leantune compare`.
 */
export async function runComparison(o: ComparisonOptions): Promise<ComparisonResult> {
  const store = ExperimentStore.open(o.storeFile);
  try {
    const { experiment, added } = o.resume
      ? openForResume(store, o)
      : { added: [], experiment: store.createExperiment({
          name: `${o.name}-${stamp()}`,
          configFile: o.configFile,
          config: o.config,
          seeds: o.seeds ?? [0],
          primaryMetric: o.primaryMetric,
          environment: captureEnvironment(o.environment),
          arms: o.arms,
        }) };
    const runs = store.runs(experiment.id);
    o.onStart?.(experiment, { total: runs.length, todo: runs.filter((r) => r.status !== 'completed').length, added });
    const result = await runExperiment({
      store,
      experimentId: experiment.id,
      commandFor: o.commandFor,
      concurrency: o.concurrency,
      progress: o.progress,
      signal: o.signal,
      queue: o.queue && { ...o.queue, name: queueNameFor(experiment.name) },
    });
    const analysis = analyze(store, String(experiment.id));
    const failures = analysis.arms.flatMap((a) => a.failed.map((f) => `  ${a.label} seed ${f.seed}: ${f.kind ?? 'failed'}: ${f.reason ?? ''}`));
    const text = [
      markdownTable(analysis),
      '',
      ...(failures.length ? [`Failed runs (rerun them with --resume ${analysis.experiment.name}):`, ...failures, ''] : []),
      verdict(analysis),
    ].join('\n');
    return { experiment: store.experiment(String(experiment.id)), result, analysis, text };
  } finally {
    store.close();
  }
}

/** Where a results folder keeps its store. */
export const storeFileIn = (dir: string) => `${dir.replace(/\/$/, '')}/experiments.sqlite`;
