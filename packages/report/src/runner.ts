import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, freemem } from 'node:os';
import { join } from 'node:path';
import { collectArtifacts, type ArmRow, type ExperimentStore, type FailureKind, type RunFinish, type RunRow, type StepMetric } from './store';

/** How to start one run: a command whose stdout carries `leantune train --json` lines. */
export interface RunCommand {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

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

const STDERR_TAIL_LINES = 30;
const tail = (text: string, lines = STDERR_TAIL_LINES) => text.trimEnd().split('\n').slice(-lines).join('\n').slice(-8000);
const lastLine = (text: string) =>
  text
    .trimEnd()
    .split('\n')
    .reverse()
    .find((l) => l.trim() && !/^\s+at /.test(l) && !/^Node\.js v/.test(l))
    ?.trim() ?? '';

/** Why a child ended the way it did, from its exit code, signal and stderr. */
export function classifyExit(code: number | null, signal: string | null, stderr: string, sawSummary: boolean): { kind?: FailureKind; reason?: string } {
  const oom = /JavaScript heap out of memory|Allocation failed|std::bad_alloc|Cannot allocate memory|ENOMEM|out of memory/i.test(stderr);
  if (code === 0 && sawSummary) return {};
  if (oom) return { kind: 'out-of-memory', reason: `out of memory${signal ? ` (${signal})` : code !== null ? ` (exit ${code})` : ''}: ${lastLine(stderr)}` };
  if (signal === 'SIGKILL') return { kind: 'killed', reason: 'killed by SIGKILL (the kernel out-of-memory killer, a timeout, or a person); see the system log (dmesg) for an OOM kill' };
  if (signal) return { kind: 'killed', reason: `killed by ${signal}` };
  if (code === 130) return { kind: 'interrupted', reason: `interrupted (exit 130): ${lastLine(stderr)}` };
  if (code === 0) return { kind: 'no-summary', reason: 'exited 0 without a summary line on stdout' };
  return { kind: 'crashed', reason: `exit ${code}: ${lastLine(stderr) || '(no stderr)'}` };
}

function readPeakRssMB(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** What a run folder's environment.json says about the backend (threads) and the plugins' versions. */
export function runEnvironment(dir: string | undefined): { threads?: number; versions?: Record<string, string> } {
  const file = dir && join(dir, 'environment.json');
  if (!file || !existsSync(file)) return {};
  try {
    const env = JSON.parse(readFileSync(file, 'utf8')) as { backend?: { threads?: number }; plugins?: string[] };
    const versions: Record<string, string> = {};
    for (const p of env.plugins ?? []) {
      const at = p.lastIndexOf('@');
      if (at > 0) versions[p.slice(0, at)] = p.slice(at + 1);
    }
    return { threads: env.backend?.threads, versions };
  } catch {
    return {};
  }
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

/** Runs one attempt of one run in a child process and records it; resolves when it is recorded. */
function runOne(opts: RunExperimentOptions, arm: ArmRow, run: RunRow, children: Set<ReturnType<typeof spawn>>): Promise<'completed' | 'failed'> {
  const { store, progress } = opts;
  const attempt = store.startRun(run.id, null);
  const cmd = opts.commandFor(arm, run.seed, attempt);
  const t0 = Date.now();
  return new Promise((done) => {
    const child = spawn(cmd.command, cmd.args, { cwd: cmd.cwd, env: cmd.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    if (child.pid) store.setRunProgress(run.id, { pid: child.pid });
    progress?.started(run);
    let stdoutBuf = '';
    let stderr = '';
    let summary: Record<string, unknown> | undefined;
    let lastStep = 0;
    let totalSteps = 0;
    let firstStepAt: { step: number; t: number } | undefined;
    let peakRss: number | undefined;
    let pendingSteps: StepMetric[] = [];
    let pendingEpochs: Array<{ epoch: number; step?: number; metrics: Record<string, unknown> }> = [];
    const flush = () => {
      if (!pendingSteps.length && !pendingEpochs.length) return;
      store.addMetrics(run.id, pendingSteps, pendingEpochs);
      pendingSteps = [];
      pendingEpochs = [];
    };
    const timer = setInterval(() => {
      flush();
      const rss = readPeakRssMB(child.pid);
      if (rss !== undefined) peakRss = Math.max(peakRss ?? 0, rss);
    }, 500);
    const onLine = (line: string) => {
      if (!line.startsWith('{')) return;
      let e: Record<string, unknown>;
      try {
        e = JSON.parse(line);
      } catch {
        return;
      }
      if (e.type === 'start') {
        totalSteps = Number(e.totalSteps) || 0;
        store.setRunProgress(run.id, { runDir: String(e.dir), totalSteps });
      } else if (e.type === 'step') {
        const step = Number(e.step);
        lastStep = step;
        if (!firstStepAt) firstStepAt = { step, t: Date.now() };
        pendingSteps.push({
          step,
          epoch: e.epoch as number,
          loss: e.loss as number,
          lr: e.lr as number,
          samplesPerSec: e.samplesPerSec as number,
          gradNorm: e.gradNorm as number | undefined,
          rssMB: e.rssMB as number | undefined,
        });
        const total = Number(e.totalSteps) || totalSteps;
        const rate = firstStepAt && step > firstStepAt.step ? (Date.now() - firstStepAt.t) / 1000 / (step - firstStepAt.step) : undefined;
        progress?.step(run, step, total, Number(e.loss), rate !== undefined ? rate * (total - step) : undefined);
      } else if (e.type === 'epoch') {
        const { type: _t, epoch, step, ...metrics } = e;
        pendingEpochs.push({ epoch: Number(epoch), step: step as number, metrics });
      } else if (e.type === 'summary') {
        summary = e;
      }
    };
    child.stdout!.on('data', (d: Buffer) => {
      stdoutBuf += d;
      let i: number;
      while ((i = stdoutBuf.indexOf('\n')) >= 0) {
        onLine(stdoutBuf.slice(0, i).trim());
        stdoutBuf = stdoutBuf.slice(i + 1);
      }
    });
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d;
      if (stderr.length > 64_000) stderr = stderr.slice(-32_000);
    });
    let settled = false;
    const finish = (code: number | null, sig: string | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      clearInterval(timer);
      children.delete(child);
      if (stdoutBuf.trim()) onLine(stdoutBuf.trim());
      flush();
      const wallSeconds = (Date.now() - t0) / 1000;
      const { kind, reason } = spawnError ? { kind: 'spawn-error' as const, reason: `could not start ${cmd.command}: ${spawnError.message}` } : classifyExit(code, sig, stderr, !!summary);
      const base = { wallSeconds, exitCode: code, signal: sig, stderrTail: tail(stderr) };
      if (!kind && summary) {
        const s = summary;
        const dir = typeof s.dir === 'string' ? s.dir : undefined;
        store.updateEnvironment(arm.experimentId, { backend: typeof s.backend === 'string' ? s.backend : undefined, ...runEnvironment(dir) });
        store.finishRun(run.id, {
          ...base,
          status: 'completed',
          trainSeconds: s.trainSeconds as number,
          peakRssMB: (s.peakRssMB as number | undefined) ?? peakRss,
          trainable: s.trainable as number,
          totalParams: s.total as number,
          savedBytes: s.savedBytes as number,
          summary: s,
          evals: evalsOf(s, lastStep),
          artifacts: dir && existsSync(dir) ? collectArtifacts(dir) : [],
        });
        progress?.finished(run, 'completed', `${wallSeconds.toFixed(1)} s`);
        done('completed');
      } else {
        store.finishRun(run.id, { ...base, status: 'failed', peakRssMB: peakRss, failureKind: kind, failureReason: reason });
        progress?.finished(run, 'failed', reason ?? '');
        done('failed');
      }
    };
    child.on('error', (err) => finish(null, null, err));
    child.on('close', (code, sig) => finish(code, sig));
  });
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
  const machine = opts.machine ?? { cores: availableParallelism(), freeMemoryMB: freemem() / 2 ** 20 };
  const limit =
    opts.concurrency === 'auto'
      ? autoConcurrency(machine.cores, machine.freeMemoryMB, todo.map((r) => estimateOf(arms.get(r.armId)!)))
      : Math.max(1, Math.min(opts.concurrency, Math.max(1, todo.length)));
  store.setExperimentStatus(experimentId, 'running');
  progress?.plan(all.length, skipped, limit);
  const children = new Set<ReturnType<typeof spawn>>();
  let completed = 0;
  let failed = 0;
  let interrupted = false;
  const onAbort = () => {
    interrupted = true;
    for (const c of children) c.kill('SIGTERM');
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  const queue = [...todo];
  const worker = async () => {
    for (let run = queue.shift(); run && !interrupted; run = queue.shift()) {
      const status = await runOne(opts, arms.get(run.armId)!, run, children);
      if (status === 'completed') completed++;
      else failed++;
    }
  };
  try {
    await Promise.all(Array.from({ length: limit }, worker));
  } finally {
    opts.signal?.removeEventListener('abort', onAbort);
    progress?.stop();
  }
  const left = store.runs(experimentId).filter((r) => r.status !== 'completed').length;
  store.setExperimentStatus(experimentId, interrupted || left > 0 ? 'incomplete' : 'completed');
  return { completed, failed, skipped, interrupted, concurrency: limit };
}
