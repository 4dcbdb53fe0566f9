import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { executeRun, type RunCommand, type RunOutcome, type StepMetric } from './job';
import { missingPlugins, type PluginRequirement } from './plugins';
import { packResultFiles, type PackedFiles } from './files';
import { QUEUE_PREFIX, REGISTRY_KEY, plainClient, redactUrl, redisConnection } from './redis';

/** What a coordinator puts on the queue for one run: config data only, never code. */
export interface RunJobData {
  v: 1;
  experiment: string;
  runId: number;
  arm: string;
  method: string;
  seed: number;
  /** The config as its file gives it (JSON); relative paths resolve from the worker's project folder. */
  config: Record<string, unknown>;
  /** Top-level keys `leantune train --override` replaces (methods, runtime with the seed). */
  override: Record<string, unknown>;
  /** The run folder's name: the worker adds -try<attempt>. */
  name: string;
  /** Every plugin the coordinator loaded the config with, at its version. */
  plugins: PluginRequirement[];
}

/** What a worker sends with job.updateProgress. */
export type RunProgress =
  | { kind: 'start'; worker: string; attempt: number; runDir: string; totalSteps: number }
  | { kind: 'step'; worker: string; attempt: number; step: number; totalSteps: number; loss?: number; eta?: number; steps: StepMetric[] }
  | { kind: 'refused'; worker: string; reason: string };

/** A job's result: the outcome (steps included) and the run's files. */
export interface RunJobResult {
  v: 1;
  worker: string;
  attempt: number;
  outcome: RunOutcome;
  files?: PackedFiles;
}

export interface WorkerOptions {
  url: string;
  /** Runs at once on this machine, over every queue (default 1). */
  concurrency?: number;
  /** The project folder: configs' relative paths (plugins, data, output.dir) resolve from here (default the current folder). */
  dir?: string;
  /** Shared folder for results over the inline limit. */
  artifactsDir?: string;
  inlineLimit?: number;
  /** The command of one run, given a config file and its overrides (the CLI's `leantune train --json`). */
  trainCommand: (configFile: string, override: Record<string, unknown>, dir: string) => RunCommand;
  /** Work on this queue only (default: every queue the coordinators list). */
  queue?: string;
  /** Milliseconds a job this worker cannot run waits before any worker takes it again (default 5000). */
  refuseDelayMs?: number;
  /** BullMQ's lock on an active job and how often stalled jobs are looked for (defaults 30000 and 15000). */
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/** A counting semaphore: the worker's concurrency holds across every queue it serves. */
function slots(n: number) {
  let free = n;
  const waiting: Array<() => void> = [];
  return {
    async take(): Promise<void> {
      if (free > 0) {
        free--;
        return;
      }
      await new Promise<void>((r) => waiting.push(r));
    },
    give(): void {
      const next = waiting.shift();
      if (next) next();
      else free++;
    },
  };
}

/** The parent's death kills the run (Linux): a SIGKILLed worker leaves no orphan training. */
const withParentDeath = (cmd: RunCommand): RunCommand =>
  existsSync('/usr/bin/setpriv') ? { ...cmd, command: '/usr/bin/setpriv', args: ['--pdeathsig', 'KILL', '--', cmd.command, ...cmd.args] } : cmd;

/**
 * `leantune worker`: takes runs from the queues the coordinators list in Redis, each in its
 * own process, and returns their outcome and files. A job whose plugins this machine lacks
 * (or has at an incompatible version) goes back on the queue, delayed, for another worker,
 * with the reason in the job's log. Resolves when the signal aborts (after the runs in
 * progress are closed by BullMQ) .
 */
export async function runWorker(o: WorkerOptions): Promise<void> {
  const { Worker, DelayedError } = await import('bullmq');
  const id = `${hostname()}:${process.pid}`;
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const dir = o.dir ?? process.cwd();
  const concurrency = Math.max(1, o.concurrency ?? 1);
  const gate = slots(concurrency);
  const checked = new Map<string, string[]>();
  const children = new Set<ChildProcess>();
  const workers = new Map<string, { close(force?: boolean): Promise<void> }>();

  const processor = async (job: import('bullmq').Job<RunJobData, RunJobResult>, token?: string): Promise<RunJobResult> => {
    const data = job.data;
    const what = `${job.queueName} run ${data.runId} (${data.arm} seed ${data.seed})`;
    if (data?.v !== 1 || !data.config || typeof data.config !== 'object') throw new Error(`${what}: not a leantune run job (v ${String(data?.v)})`);
    const key = JSON.stringify([data.config.plugins, data.plugins]);
    if (!checked.has(key)) checked.set(key, await missingPlugins(data.config, data.plugins ?? [], dir));
    const problems = checked.get(key)!;
    if (problems.length) {
      const reason = `worker ${id} leaves ${what}: ${problems.join('; ')}`;
      log(reason);
      await job.log(reason);
      await job.updateProgress({ kind: 'refused', worker: id, reason } satisfies RunProgress);
      await job.moveToDelayed(Date.now() + (o.refuseDelayMs ?? 5000), token);
      throw new DelayedError();
    }
    await gate.take();
    try {
      const attempt = job.attemptsStarted || job.attemptsMade + 1;
      removeStaleJobFiles(dir);
      // The config file sits in the project folder (hidden, removed after the run): its relative paths resolve as they do for the coordinator's.
      const configFile = join(dir, `.leantune-job-${job.queueName}-run${data.runId}-try${attempt}-${hostTag}-${process.pid}.json`);
      writeFileSync(configFile, JSON.stringify(data.config, null, 2));
      const override = { ...data.override, name: `${data.name}-try${attempt}` };
      log(`worker ${id}: start ${what}, attempt ${attempt}`);
      let pending: StepMetric[] = [];
      let lastSent = 0;
      const send = (p: RunProgress) => job.updateProgress(p).catch((err) => log(`worker ${id}: progress of ${what} not sent: ${(err as Error).message}`));
      let outcome: RunOutcome;
      try {
        outcome = await executeRun(
          withParentDeath(o.trainCommand(configFile, override, dir)),
          {
            start: ({ runDir, totalSteps }) => void send({ kind: 'start', worker: id, attempt, runDir, totalSteps }),
            step: (m, totalSteps, eta) => {
              pending.push(m);
              if (Date.now() - lastSent < 500 && m.step < totalSteps) return;
              lastSent = Date.now();
              void send({ kind: 'step', worker: id, attempt, step: m.step, totalSteps, loss: m.loss, eta, steps: pending });
              pending = [];
            },
          },
          children,
        );
      } finally {
        rmSync(configFile, { force: true });
      }
      if (outcome.status !== 'completed' || !outcome.runDir) {
        const { steps: _s, epochs: _e, ...brief } = outcome;
        await job.log(`outcome ${JSON.stringify(brief)}`);
        log(`worker ${id}: ${what} attempt ${attempt} failed: ${outcome.failureReason}`);
        throw new Error(`${outcome.failureKind ?? 'failed'}: ${outcome.failureReason ?? ''}`);
      }
      const files = packResultFiles(outcome.runDir, { inlineLimit: o.inlineLimit, artifactsDir: o.artifactsDir, queue: job.queueName, host: hostname() });
      if (files.leftOn) log(`worker ${id}: ${what}: its files are over the inline limit and no --artifacts folder was given; they stay in ${files.leftOn}`);
      log(`worker ${id}: ${what} completed in ${outcome.wallSeconds.toFixed(1)} s`);
      return { v: 1, worker: id, attempt, outcome, files };
    } finally {
      gate.give();
    }
  };

  const connection = redisConnection(o.url, process.env, `leantune-worker-${id}`);
  const attach = (name: string) => {
    if (workers.has(name)) return;
    const w = new Worker<RunJobData, RunJobResult>(name, processor, {
      connection,
      prefix: QUEUE_PREFIX,
      concurrency,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 15_000,
      maxStalledCount: 3,
    });
    w.on('error', (err) => log(`worker ${id}: ${name}: ${err.message}`));
    workers.set(name, w);
    log(`worker ${id}: serving queue ${name} on ${redactUrl(o.url)}, ${concurrency} at a time`);
  };
  const registry = await plainClient(connection);
  const refresh = async () => {
    const names = o.queue ? [o.queue] : await registry.smembers(REGISTRY_KEY);
    for (const n of names) attach(n);
  };
  log(`worker ${id}: waiting for runs on ${redactUrl(o.url)} (project folder ${dir})`);
  await refresh().catch((err) => log(`worker ${id}: ${(err as Error).message}`));
  const timer = setInterval(() => refresh().catch(() => undefined), 1000);
  await new Promise<void>((done) => {
    if (o.signal?.aborted) return done();
    o.signal?.addEventListener('abort', () => done(), { once: true });
  });
  clearInterval(timer);
  for (const c of children) c.kill('SIGTERM');
  await Promise.all([...workers.values()].map((w) => w.close(true).catch(() => undefined)));
  registry.disconnect();
}

/** This machine's name as it appears in job file names. */
const hostTag = hostname().replace(/[^A-Za-z0-9]/g, '_');

/** Job config files that a killed worker on this machine left in the project folder (its pid is gone). */
function removeStaleJobFiles(dir: string): void {
  for (const f of readdirSync(dir)) {
    const pid = new RegExp(`^\\.leantune-job-.*-${hostTag}-(\\d+)\\.json$`).exec(f)?.[1];
    if (!pid) continue;
    try {
      process.kill(Number(pid), 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(dir, f), { force: true });
    }
  }
}
