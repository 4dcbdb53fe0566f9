import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runOnQueue, runWorker, type CoordinatorEvents, type QueuedRun, type RunJobResult } from '../src';
import { redisRequired, redisServerBin, startRedisServer, type RedisServer } from './redis-server';

// The queue's faults, coordinator and worker in this process on a real redis-server, each run
// the report tests' stand-in trainer (fake-train.js: the `leantune train --json` lines, a run
// folder with an adapter; crashes on request): retries with exponential backoff then failed,
// a coordinator stopped and started again picking up the queue's state, and Redis dropping
// every connection (and not answering for a second) in the middle of the runs.
const fakeTrain = join(__dirname, '..', '..', 'report', 'test', 'fixtures', 'fake-train.js');
const suite = redisServerBin || redisRequired ? describe : describe.skip;

const job = (runId: number, arm: string): QueuedRun => ({
  runId,
  data: { v: 1, experiment: 'faults', runId, arm, method: 'fake', seed: runId, config: { name: 'faults', plugins: [] }, override: {}, name: `${arm}-${runId}`, plugins: [] },
});

/** What the coordinator heard, by run. */
function recorder() {
  const seen = { started: [] as string[], completed: [] as number[], failed: [] as Array<{ runId: number; kind?: string; attempts: number }>, results: new Map<number, RunJobResult>() };
  const events: CoordinatorEvents = {
    started: (runId, p) => seen.started.push(`${runId}@${p.attempt}`),
    step: () => undefined,
    completed: (runId, r) => {
      seen.completed.push(runId);
      seen.results.set(runId, r);
    },
    failed: (runId, f) => void seen.failed.push({ runId, kind: f.outcome?.failureKind, attempts: f.attempts }),
  };
  return { seen, events };
}

suite('the queue under faults', () => {
  let redis: RedisServer;
  let dir: string;
  const stop = new AbortController();
  let worker: Promise<void>;
  const tries: string[] = [];
  beforeAll(async () => {
    redis = await startRedisServer();
    dir = mkdtempSync(join(tmpdir(), 'lt-queue-faults-'));
    worker = runWorker({
      url: redis.url,
      concurrency: 2,
      dir,
      lockDurationMs: 2000,
      stalledIntervalMs: 1000,
      log: () => undefined,
      signal: stop.signal,
      // "flaky" crashes on its first two tries, "broken" on every one; the others train.
      trainCommand: (_file, override) => {
        const name = String(override.name);
        const attempt = Number(/-try(\d+)$/.exec(name)?.[1]);
        tries.push(name);
        const behaviour = name.startsWith('broken') || (name.startsWith('flaky') && attempt < 3) ? 'crash' : 'ok';
        return { command: process.execPath, args: [fakeTrain, join(dir, 'runs'), name.split('-')[0], '1', behaviour], env: { ...process.env, FAKE_STEPS: '20', FAKE_STEP_MS: '40' } };
      },
    });
  });
  afterAll(async () => {
    stop.abort();
    await worker;
    await redis?.stop();
  });

  it('retries a failing run with exponential backoff up to attempts, then reports it failed once with its outcome', async () => {
    const { seen, events } = recorder();
    const t0 = Date.now();
    await runOnQueue({ url: redis.url, queue: 'retries', runs: [job(1, 'flaky'), job(2, 'broken'), job(3, 'good')], attempts: 3, backoffMs: 300, events, log: () => undefined });
    expect(seen.completed.sort()).toEqual([1, 3]);
    expect(seen.results.get(1)).toMatchObject({ attempt: 3, outcome: { status: 'completed' } });
    expect(seen.results.get(1)!.files!.files.map((f) => f.path)).toEqual(['adapters/flaky/adapter_model.safetensors', 'trainable.safetensors', 'environment.json']);
    expect(seen.failed).toEqual([{ runId: 2, kind: 'crashed', attempts: 3 }]);
    expect(tries.filter((t) => t.startsWith('broken'))).toEqual(['broken-2-try1', 'broken-2-try2', 'broken-2-try3']);
    // Backoff 300 ms then 600 ms between the three tries.
    expect(Date.now() - t0).toBeGreaterThan(900);
  }, 60_000);

  it('a coordinator stopped mid-way and started again picks up the queue: nothing run twice, nothing lost', async () => {
    const runs = [job(11, 'a'), job(12, 'b'), job(13, 'c'), job(14, 'd')];
    const first = recorder();
    const leave = new AbortController();
    const one = runOnQueue({ url: redis.url, queue: 'resume', runs, events: { ...first.events, completed: (id, r) => (first.events.completed(id, r), leave.abort()) }, signal: leave.signal, log: () => undefined });
    expect((await one).interrupted).toBe(true);
    // The workers go on meanwhile; the second coordinator finds what finished and follows the rest.
    await new Promise((r) => setTimeout(r, 1500));
    const second = recorder();
    const rest = runs.filter((r) => !first.seen.completed.includes(r.runId));
    const r2 = await runOnQueue({ url: redis.url, queue: 'resume', runs: rest, events: second.events, log: () => undefined });
    expect(r2.added).toBe(0);
    expect(r2.recovered).toBeGreaterThanOrEqual(1);
    expect([...first.seen.completed, ...second.seen.completed].sort()).toEqual([11, 12, 13, 14]);
    for (const id of [11, 12, 13, 14]) expect(tries.filter((t) => t.startsWith(`${'abcd'[id - 11]}-${id}-`))).toEqual([`${'abcd'[id - 11]}-${id}-try1`]);
  }, 60_000);

  it('Redis dropping every connection and pausing for a second: coordinator and worker reconnect and every run completes once', async () => {
    const { seen, events } = recorder();
    const runs = [job(21, 'e'), job(22, 'f'), job(23, 'g')];
    let cut = false;
    const done = runOnQueue({
      url: redis.url,
      queue: 'outage',
      runs,
      events: {
        ...events,
        step: () => {
          if (cut) return;
          cut = true;
          // Mid-run: Redis stops answering for a second, then drops every client.
          process.kill(redis.pid, 'SIGSTOP');
          setTimeout(() => {
            process.kill(redis.pid, 'SIGCONT');
            execFileSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'KILL', 'TYPE', 'normal']);
            execFileSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'KILL', 'TYPE', 'pubsub']);
          }, 1000);
        },
      },
      log: () => undefined,
    });
    await done;
    expect(cut).toBe(true);
    expect(seen.completed.sort()).toEqual([21, 22, 23]);
    expect(seen.failed).toEqual([]);
  }, 60_000);
});
