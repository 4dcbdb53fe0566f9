import type { RunOutcome } from './job';
import { QUEUE_PREFIX, REGISTRY_KEY, jobIdFor, plainClient, redactUrl, redisConnection } from './redis';
import type { RunJobData, RunJobResult, RunProgress } from './worker';

/** One run to put on the queue (or to find there again after a restart). */
export interface QueuedRun {
  runId: number;
  data: RunJobData;
}

/** What the coordinator hears about each run, in order: started (again on each new attempt), steps, then completed or failed once. */
export interface CoordinatorEvents {
  started(runId: number, p: Extract<RunProgress, { kind: 'start' }>): void;
  step(runId: number, p: Extract<RunProgress, { kind: 'step' }>): void;
  refused?(runId: number, p: Extract<RunProgress, { kind: 'refused' }>): void;
  /** A run's final result: called once per run. */
  completed(runId: number, result: RunJobResult): void | Promise<void>;
  /** A run that failed on its last attempt (the outcome from its log when the run got that far). */
  failed(runId: number, failure: { outcome?: RunOutcome; reason: string; attempts: number }): void | Promise<void>;
}

export interface QueueRunOptions {
  url: string;
  /** The queue's name: the experiment's. */
  queue: string;
  runs: QueuedRun[];
  /** Tries per run before it is recorded failed (default 3), with exponential backoff from backoffMs (default 2000). */
  attempts?: number;
  backoffMs?: number;
  events: CoordinatorEvents;
  /** Aborting stops following: the runs stay on the queue for the workers, and `--resume` picks them up. */
  signal?: AbortSignal;
  log?: (line: string) => void;
  /** How often the queue's state is read besides its events (default 1000 ms). */
  pollMs?: number;
}

export interface QueueRunResult {
  interrupted: boolean;
  /** Runs found finished on the queue when it started (a restarted coordinator's). */
  recovered: number;
  /** Runs added to the queue now. */
  added: number;
}

/** The outcome a worker logged for a failed attempt ("outcome {json}"), the last one. */
function loggedOutcome(logs: string[]): RunOutcome | undefined {
  for (const line of [...logs].reverse()) {
    if (!line.startsWith('outcome ')) continue;
    try {
      return { steps: [], epochs: [], ...JSON.parse(line.slice('outcome '.length)) } as RunOutcome;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * The coordinator's side of `leantune compare --queue`: puts each run on a BullMQ queue (job
 * id = run id, so a run is on it once however often this is called), lists the queue in
 * Redis for the workers, and follows it — progress events as they come, and each run's final
 * state (read from the queue, so none is missed across a Redis outage or a restart) handed
 * over exactly once. A failed job left from before is run again, as `--resume` does locally.
 */
export async function runOnQueue(o: QueueRunOptions): Promise<QueueRunResult> {
  const { Queue, QueueEvents } = await import('bullmq');
  const log = o.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const connection = redisConnection(o.url, process.env, `leantune-coordinator-${process.pid}`);
  const queue = new Queue<RunJobData, RunJobResult>(o.queue, { connection, prefix: QUEUE_PREFIX });
  const queueEvents = new QueueEvents(o.queue, { connection, prefix: QUEUE_PREFIX });
  queue.on('error', (err) => log(`queue ${o.queue}: ${err.message}`));
  queueEvents.on('error', (err) => log(`queue ${o.queue} events: ${err.message}`));
  const runOf = new Map(o.runs.map((r) => [jobIdFor(r.runId), r.runId]));
  const pending = new Set(o.runs.map((r) => r.runId));
  const busy = new Set<number>();
  const attempts = o.attempts ?? 3;
  const client = await plainClient(connection);
  const result: QueueRunResult = { interrupted: false, recovered: 0, added: 0 };
  const lastAttempt = new Map<number, number>();

  queueEvents.on('progress', ({ jobId, data }) => {
    const runId = runOf.get(jobId);
    const p = data as RunProgress;
    if (runId === undefined || !pending.has(runId) || !p || typeof p !== 'object') return;
    if (p.kind === 'start') {
      lastAttempt.set(runId, p.attempt);
      o.events.started(runId, p);
    } else if (p.kind === 'step') {
      // Steps of an attempt whose start was missed (a restart): announce it first.
      if (lastAttempt.get(runId) !== p.attempt) {
        lastAttempt.set(runId, p.attempt);
        o.events.started(runId, { kind: 'start', worker: p.worker, attempt: p.attempt, runDir: '', totalSteps: p.totalSteps });
      }
      o.events.step(runId, p);
    } else if (p.kind === 'refused') o.events.refused?.(runId, p);
  });

  const check = async (runId: number): Promise<void> => {
    if (!pending.has(runId) || busy.has(runId)) return;
    busy.add(runId);
    try {
      const job = await queue.getJob(jobIdFor(runId));
      if (!job) return;
      const state = await job.getState();
      if (state === 'completed') {
        pending.delete(runId);
        await o.events.completed(runId, job.returnvalue);
      } else if (state === 'failed') {
        pending.delete(runId);
        const { logs } = await queue.getJobLogs(job.id!);
        await o.events.failed(runId, { outcome: loggedOutcome(logs), reason: job.failedReason, attempts: job.attemptsMade });
      }
    } finally {
      busy.delete(runId);
    }
  };
  queueEvents.on('completed', ({ jobId }) => {
    const runId = runOf.get(jobId);
    if (runId !== undefined) void check(runId).catch((err) => log(`queue ${o.queue}: ${(err as Error).message}`));
  });
  queueEvents.on('failed', ({ jobId }) => {
    const runId = runOf.get(jobId);
    if (runId !== undefined) void check(runId).catch((err) => log(`queue ${o.queue}: ${(err as Error).message}`));
  });

  try {
    await queueEvents.waitUntilReady();
    await client.sadd(REGISTRY_KEY, o.queue);
    for (const run of o.runs) {
      const id = jobIdFor(run.runId);
      const existing = await queue.getJob(id);
      const state = existing ? await existing.getState() : undefined;
      if (existing && state === 'failed') await existing.remove();
      if (existing && state === 'completed') result.recovered++;
      // A run already going (a restarted coordinator): its steps continue the attempt the store has, not a new one.
      if (existing && state === 'active') lastAttempt.set(run.runId, existing.attemptsStarted);
      if (!existing || state === 'failed' || state === 'unknown') {
        await queue.add('run', run.data, { jobId: id, attempts, backoff: { type: 'exponential', delay: o.backoffMs ?? 2000 }, removeOnComplete: false, removeOnFail: false });
        result.added++;
      }
    }
    log(`compare: ${result.added} runs on queue ${o.queue} at ${redactUrl(o.url)}${result.recovered ? `, ${result.recovered} found finished there` : ''}${o.runs.length - result.added - result.recovered ? `, ${o.runs.length - result.added - result.recovered} already queued or running` : ''}; start workers with: leantune worker --queue ${redactUrl(o.url)}`);
    await new Promise<void>((resolve) => {
      let over = false;
      const done = () => {
        over = true;
        resolve();
      };
      const tick = async () => {
        if (over) return;
        if (o.signal?.aborted) {
          result.interrupted = true;
          return done();
        }
        await Promise.all([...pending].map((r) => check(r).catch((err) => log(`queue ${o.queue}: ${(err as Error).message}`))));
        if (over) return;
        if (!pending.size) return done();
        setTimeout(() => void tick(), o.pollMs ?? 1000);
      };
      o.signal?.addEventListener('abort', () => void tick(), { once: true });
      void tick();
    });
    if (!result.interrupted) {
      // Everything is recorded: the queue's jobs (results and files) are no longer needed in Redis.
      await client.srem(REGISTRY_KEY, o.queue);
      await queue.obliterate({ force: true }).catch((err) => log(`queue ${o.queue}: not removed: ${(err as Error).message}`));
    }
  } finally {
    await queueEvents.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    client.disconnect();
  }
  return result;
}
