import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { collectArtifacts, executeRun, materializeResultFiles, runEnvironment, runOnQueue, runPool, type Artifact, type RunCommand, type RunJobData, type RunOutcome } from '@leantune/queue';
import type { ArmRow, EpochMetric, ExperimentStore, RunFinish, RunRow, StepMetric } from './store';

// The job interface (one run as a child process) is @leantune/queue's, kept exported from here as before.
export { classifyExit, runEnvironment, type RunCommand, type RunOutcome } from '@leantune/queue';

/** What the runner tells a progress display. */
export interface ProgressSink {
  /** Before the first run: all runs, the ones already completed, and how many run at once. */
  plan(total: number, done: number, concurrency: number): void;
  started(run: RunRow): void;
  step(run: RunRow, step: number, totalSteps: number, loss: number, etaSeconds: number | undefined): void;
  finished(run: RunRow, status: 'completed' | 'failed', detail: string): void;
  stop(): void;
}

export interface RunExperimentOptions {
  store: ExperimentStore;
  experimentId: number;
  /** The command of one attempt (1 for the first; a rerun after --resume gets the next number). */
  commandFor: (arm: ArmRow, seed: number, attempt: number) => RunCommand;
  /** A number, or "auto": cores, and the free memory over each arm's estimate. */
  concurrency: number | 'auto';
  /** Memory estimate per arm (MB) when the store has no peak RSS for it yet (default 1024). */
  defaultMemoryMB?: number;
  progress?: ProgressSink;
  /** Aborting stops the running children (SIGTERM) and leaves their runs to --resume. */
  signal?: AbortSignal;
  /** For tests: the machine the pool is sized for. */
  machine?: { cores: number; freeMemoryMB: number };
  /** Put the runs on a BullMQ queue for `leantune worker`s instead of running them here. */
  queue?: QueueTarget;
}

/** Where and how `runExperiment` puts runs on a queue. */
export interface QueueTarget {
  /** redis:// or rediss:// URL. */
  url: string;
  /** The queue's name (the experiment's). */
  name: string;
  /** The job of a run: config data only. */
  jobFor: (arm: ArmRow, run: RunRow) => RunJobData;
  /** The folder where each run's files (adapters, weights) are written when its result arrives. */
  resultsDir: string;
  attempts?: number;
  backoffMs?: number;
  log?: (line: string) => void;
}

export interface RunExperimentResult {
  completed: number;
  failed: number;
  skipped: number;
  interrupted: boolean;
  /** How many ran at once. */
  concurrency: number;
}

/** How many runs at once: at most one per core, and as many as the free memory holds by each arm's estimate (at least one). */
export function autoConcurrency(cores: number, freeMemoryMB: number, estimatesMB: number[]): number {
  if (!estimatesMB.length) return 1;
  const worst = Math.max(...estimatesMB);
  const byMemory = Math.floor((0.8 * freeMemoryMB) / worst);
  return Math.max(1, Math.min(cores, byMemory, estimatesMB.length));
}

function evalsOf(summary: Record<string, unknown>, lastStep: number): RunFinish['evals'] {
  const evals: NonNullable<RunFinish['evals']> = [];
  const metrics = summary.metrics as Record<string, unknown> | undefined;
  if (metrics) evals.push({ split: 'validation', step: typeof metrics.steps === 'number' ? metrics.steps : lastStep, metrics });
  for (const key of ['best', 'last', 'test'] as const) {
    const v = summary[key] as Record<string, unknown> | undefined;
    if (!v || typeof v !== 'object') continue;
    const inner = (v.metrics as Record<string, unknown> | undefined) ?? v;
    const step = typeof v.step === 'number' ? v.step : lastStep;
    evals.push({ split: key, step, metrics: inner });
  }
  return evals;
}

/**
 * Records what an attempt came to, in one transaction: its step and epoch metrics (the whole
 * list the run reported, replacing what live progress wrote), the environment it saw, and the
 * run's row with its figures, evaluations and artifacts. The local pool and the queue's
 * coordinator both record through here, keyed by run id: a retried run ends as one row.
 */
export function recordOutcome(store: ExperimentStore, arm: ArmRow, runId: number, outcome: RunOutcome, options: { runDir?: string; artifacts?: Artifact[] } = {}): 'completed' | 'failed' {
  const base = { wallSeconds: outcome.wallSeconds, exitCode: outcome.exitCode, signal: outcome.signal, stderrTail: outcome.stderrTail };
  const runDir = options.runDir ?? outcome.runDir;
  store.db.transaction(() => {
    store.replaceMetrics(runId, outcome.steps, outcome.epochs);
    if (runDir || outcome.totalSteps) store.setRunProgress(runId, { runDir, totalSteps: outcome.totalSteps || undefined });
    const s = outcome.summary;
    if (outcome.status === 'completed' && s) {
      store.updateEnvironment(arm.experimentId, { backend: typeof s.backend === 'string' ? s.backend : undefined, ...runEnvironment(runDir) });
      store.finishRun(runId, {
        ...base,
        status: 'completed',
        trainSeconds: s.trainSeconds as number,
        peakRssMB: outcome.peakRssMB,
        trainable: s.trainable as number,
        totalParams: s.total as number,
        savedBytes: s.savedBytes as number,
        summary: s,
        evals: evalsOf(s, outcome.lastStep),
        artifacts: options.artifacts ?? (runDir && existsSync(runDir) ? collectArtifacts(runDir) : []),
      });
    } else {
      store.finishRun(runId, { ...base, status: 'failed', peakRssMB: outcome.peakRssMB, failureKind: outcome.failureKind, failureReason: outcome.failureReason });
    }
  })();
  return outcome.status === 'completed' && outcome.summary ? 'completed' : 'failed';
}

/** Runs one attempt of one run in a child process and records it; resolves when it is recorded. */
async function runOne(opts: RunExperimentOptions, arm: ArmRow, run: RunRow, children: Set<ChildProcess>): Promise<'completed' | 'failed'> {
  const { store, progress } = opts;
  const attempt = store.startRun(run.id, null);
  const cmd = opts.commandFor(arm, run.seed, attempt);
  let pendingSteps: StepMetric[] = [];
  let pendingEpochs: EpochMetric[] = [];
  const flush = () => {
    if (!pendingSteps.length && !pendingEpochs.length) return;
    store.addMetrics(run.id, pendingSteps, pendingEpochs);
    pendingSteps = [];
    pendingEpochs = [];
  };
  const timer = setInterval(flush, 500);
  let outcome: RunOutcome;
  try {
    outcome = await executeRun(
      cmd,
      {
        spawned: (pid) => {
          if (pid) store.setRunProgress(run.id, { pid });
          progress?.started(run);
        },
        start: ({ runDir, totalSteps }) => store.setRunProgress(run.id, { runDir, totalSteps }),
        step: (metric, total, eta) => {
          pendingSteps.push(metric);
          progress?.step(run, metric.step, total, Number(metric.loss), eta);
        },
        epoch: (metric) => pendingEpochs.push(metric),
      },
      children,
    );
  } finally {
    clearInterval(timer);
  }
  flush();
  const status = recordOutcome(store, arm, run.id, outcome);
  progress?.finished(run, status, status === 'completed' ? `${outcome.wallSeconds.toFixed(1)} s` : outcome.failureReason ?? '');
  return status;
}

/**
 * Runs every run of an experiment that is not completed yet (pending, running from a killed
 * coordinator, or failed), each in its own process, `concurrency` at a time. A failing run is
 * recorded with its reason and the others go on.
 */
export async function runExperiment(opts: RunExperimentOptions): Promise<RunExperimentResult> {
  const { store, experimentId, progress } = opts;
  const arms = new Map(store.arms(experimentId).map((a) => [a.id, a]));
  const all = store.runs(experimentId);
  const todo = all.filter((r) => r.status !== 'completed');
  const skipped = all.length - todo.length;
  const estimateOf = (arm: ArmRow) => store.observedPeakRssMB(arm.label, arm.method) ?? opts.defaultMemoryMB ?? 1024;
  if (opts.queue) return runExperimentOnQueue(opts, opts.queue, arms, all, todo);
  const machine = opts.machine ?? { cores: availableParallelism(), freeMemoryMB: freemem() / 2 ** 20 };
  const limit =
    opts.concurrency === 'auto'
      ? autoConcurrency(machine.cores, machine.freeMemoryMB, todo.map((r) => estimateOf(arms.get(r.armId)!)))
      : Math.max(1, Math.min(opts.concurrency, Math.max(1, todo.length)));
  store.setExperimentStatus(experimentId, 'running');
  progress?.plan(all.length, skipped, limit);
  const children = new Set<ChildProcess>();
  let completed = 0;
  let failed = 0;
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    for (const c of children) c.kill('SIGTERM');
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await runPool(todo, limit, async (run) => {
      const status = await runOne(opts, arms.get(run.armId)!, run, children);
      if (status === 'completed') completed++;
      else failed++;
    }, () => interrupted);
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    progress?.stop();
  }
  const left = store.runs(experimentId).filter((r) => r.status !== 'completed').length;
  store.setExperimentStatus(experimentId, interrupted || left > 0 ? 'incomplete' : 'completed');
  return { completed, failed, skipped, interrupted, concurrency: limit };
}

/**
 * The same runs on a BullMQ queue: each result is recorded as it arrives, through the same
 * recordOutcome as the local pool (keyed by run id; a run retried or picked up after a killed
 * worker ends as one row), live steps written as progress events bring them.
 */
async function runExperimentOnQueue(opts: RunExperimentOptions, target: QueueTarget, arms: Map<number, ArmRow>, all: RunRow[], todo: RunRow[]): Promise<RunExperimentResult> {
  const { store, experimentId, progress } = opts;
  const log = target.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const byId = new Map(todo.map((r) => [r.id, r]));
  let completed = 0;
  let failed = 0;
  store.setExperimentStatus(experimentId, 'running');
  progress?.plan(all.length, all.length - todo.length, 0);
  const statusOf = (runId: number) => store.runs(experimentId).find((r) => r.id === runId)?.status;
  const ensureStarted = (runId: number) => {
    if (statusOf(runId) === 'pending') store.startRun(runId, null);
  };
  const finish = (run: RunRow, outcome: RunOutcome, runDir?: string) => {
    const status = recordOutcome(store, arms.get(run.armId)!, run.id, outcome, runDir ? { runDir } : {});
    if (status === 'completed') completed++;
    else failed++;
    progress?.finished(run, status, status === 'completed' ? `${outcome.wallSeconds.toFixed(1)} s` : outcome.failureReason ?? '');
  };
  let interrupted = false;
  try {
    const r = await runOnQueue({
      url: target.url,
      queue: target.name,
      attempts: target.attempts,
      backoffMs: target.backoffMs,
      signal: opts.signal,
      log,
      runs: todo.map((run) => ({ runId: run.id, data: target.jobFor(arms.get(run.armId)!, run) })),
      events: {
        started: (runId, p) => {
          store.startRun(runId, null);
          if (p.totalSteps) store.setRunProgress(runId, { totalSteps: p.totalSteps });
          progress?.started(byId.get(runId)!);
        },
        step: (runId, p) => {
          store.addMetrics(runId, p.steps);
          progress?.step(byId.get(runId)!, p.step, p.totalSteps, Number(p.loss), p.eta);
        },
        refused: (runId, p) => log(`compare: ${p.reason}`),
        completed: (runId, result) => {
          const run = byId.get(runId)!;
          ensureStarted(runId);
          let runDir: string | undefined;
          if (result.files) {
            const { dir, missing } = materializeResultFiles(result.files, target.resultsDir);
            runDir = dir;
            if (missing.length) log(`compare: ${run.armLabel} seed ${run.seed}: files not brought back (over the inline limit; give the workers --artifacts <shared folder>): ${missing.join(', ')}`);
          }
          finish(run, result.outcome, runDir);
        },
        failed: (runId, f) => {
          const run = byId.get(runId)!;
          ensureStarted(runId);
          const reason = `${f.outcome?.failureReason ?? f.reason} (after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`;
          const outcome: RunOutcome = f.outcome
            ? { ...f.outcome, status: 'failed', failureReason: reason }
            : { status: 'failed', wallSeconds: 0, exitCode: null, signal: null, stderrTail: '', failureKind: 'crashed', failureReason: reason, lastStep: 0, steps: [], epochs: [] };
          finish(run, outcome);
        },
      },
    });
    interrupted = r.interrupted;
  } finally {
    progress?.stop();
  }
  const left = store.runs(experimentId).filter((r) => r.status !== 'completed').length;
  store.setExperimentStatus(experimentId, interrupted || left > 0 ? 'incomplete' : 'completed');
  return { completed, failed, skipped: all.length - todo.length, interrupted, concurrency: 0 };
}
