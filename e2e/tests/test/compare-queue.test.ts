import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { redisRequired, redisServerBin, startRedisServer } from '../../../packages/queue/test/redis-server';

// `leantune compare --queue` across processes as a user runs it: Redis on a free localhost
// port, a coordinator and two `leantune worker`s on the tiny model, one worker SIGKILLed in
// the middle of a run. Every run must finish exactly once and the store must match a local
// run of the same experiment. LEANTUNE_E2E_QUEUE_WORKERS sets the number of workers (the
// README's timings); CI installs redis-server (.ci/run), elsewhere the test is skipped without it.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const fixtures = join(__dirname, 'fixtures');
const workerCount = Number(process.env.LEANTUNE_E2E_QUEUE_WORKERS) || 2;
const suite = redisServerBin || redisRequired ? describe : describe.skip;

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js')) || !existsSync(join(repo, 'packages', 'queue', 'dist', 'index.js'))) {
    execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: repo });
  }
});

/** A folder with the tiny model and data plugins and a compare config of lora and ia3 (long enough to be killed in the middle of). */
function project(name: string): { cwd: string; config: string } {
  const cwd = mkdtempSync(join(tmpdir(), `lt-queue-${name}-`));
  for (const f of ['tiny-model.js', 'tiny-data.js']) copyFileSync(join(fixtures, f), join(cwd, f));
  const config = join(cwd, 'leantune.json');
  const data = {
    name: 'queued',
    plugins: ['./tiny-model.js', './tiny-data.js', 'lora', 'ia3'],
    model: 'tiny-text',
    methods: { lora: { r: 4, lora_alpha: 8, modules_to_save: ['classifier'] } },
    data: { name: 'tiny-sentiment', count: 48 },
    train: { epochs: 4, batchSize: 8, learningRate: 0.05 },
    runtime: { backend: 'cpu', seed: 3 },
    output: { dir: 'runs' },
    compare: { methods: ['lora', 'ia3'] },
  };
  writeFileSync(config, JSON.stringify(data));
  return { cwd, config };
}

interface Row {
  id: number;
  label: string;
  seed: number;
  status: string;
  attempt: number;
  total_steps: number | null;
}

function readStore(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const runs = db.prepare('SELECT r.*, a.label FROM runs r JOIN arms a ON a.id = r.arm_id ORDER BY a.position, r.seed').all() as Row[];
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const metric = db.prepare(
      `SELECT a.label || '/' || r.seed AS run, v.split, v.name, v.value FROM eval_metrics v JOIN runs r ON r.id = v.run_id JOIN arms a ON a.id = r.arm_id
       WHERE v.value IS NOT NULL ORDER BY run, v.split, v.name`,
    );
    const losses = db.prepare(
      `SELECT a.label || '/' || r.seed AS run, s.step, s.loss FROM step_metrics s JOIN runs r ON r.id = s.run_id JOIN arms a ON a.id = r.arm_id ORDER BY run, s.step`,
    );
    const steps = db.prepare('SELECT run_id, step FROM step_metrics ORDER BY run_id, step').all() as Array<{ run_id: number; step: number }>;
    return {
      runs,
      steps,
      evals: metric.all() as Array<{ run: string; split: string; name: string; value: number }>,
      losses: losses.all() as Array<{ run: string; step: number; loss: number }>,
      counts: Object.fromEntries(['runs', 'run_attempts', 'step_metrics', 'epoch_metrics', 'eval_metrics', 'artifacts'].map((t) => [t, count(t)])),
    };
  } finally {
    db.close();
  }
}

interface Worker {
  child: ChildProcess;
  log: () => string;
  closed: Promise<unknown>;
}

function startWorker(cwd: string, url: string): Worker {
  // A 2 s lock: a killed worker's run is seen stalled and handed on within a few seconds.
  const child = spawn(process.execPath, [cliBin, 'worker', '--queue', url], { cwd, env: { ...process.env, LEANTUNE_QUEUE_LOCK_MS: '2000' } });
  let text = '';
  child.stderr!.on('data', (d) => (text += d));
  child.stdout!.resume();
  return { child, log: () => text, closed: new Promise((done) => child.on('close', done)) };
}

suite('leantune compare --queue on BullMQ workers', () => {
  let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
  const workers: Worker[] = [];
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.closed));
    await redis?.stop();
  });

  it('a worker SIGKILLed mid-run: every run finishes exactly once, and the store matches a local run', async () => {
    const t0 = Date.now();
    // The same experiment run locally, for the figures to match.
    const local = project('local');
    const l = spawnSync(process.execPath, [cliBin, 'compare', '-c', local.config, '--seeds', '2', '--concurrency', '2'], { cwd: local.cwd, encoding: 'utf8' });
    expect(l.status).toBe(0);
    const tLocal = Date.now() - t0;

    redis = await startRedisServer();
    const queued = project('queued');
    for (let i = 0; i < workerCount; i++) workers.push(startWorker(queued.cwd, redis.url));
    const t1 = Date.now();
    const coordinator = spawn(process.execPath, [cliBin, 'compare', '-c', queued.config, '--seeds', '2', '--queue', redis.url], { cwd: queued.cwd });
    let stderr = '';
    let stdout = '';
    coordinator.stderr.on('data', (d) => (stderr += d));
    coordinator.stdout.on('data', (d) => (stdout += d));
    const closed = new Promise<number | null>((done) => coordinator.on('close', (code) => done(code)));
    const store = join(queued.cwd, 'runs', 'experiments.sqlite');

    // Kill the worker of a run that is part-way through its steps.
    const victim = await new Promise<{ worker: Worker; runId: number }>((done, fail) => {
      const timeout = setTimeout(() => {
        clearInterval(poll);
        fail(new Error(`no run in progress on a worker after 60 s; coordinator:\n${stderr}\nworkers:\n${workers.map((w) => w.log()).join('\n')}`));
      }, 60_000);
      const poll = setInterval(() => {
        if (!existsSync(store)) return;
        try {
          const { runs, steps } = readStore(store);
          for (const r of runs.filter((x) => x.status === 'running')) {
            const stepsDone = steps.filter((s) => s.run_id === r.id).length;
            const worker = workers.find((w) => w.log().includes(` run ${r.id} (`) && !w.log().includes(`run ${r.id} (${r.label} seed ${r.seed}) completed`));
            if (worker && stepsDone >= 1 && r.total_steps && stepsDone < r.total_steps) {
              clearInterval(poll);
              clearTimeout(timeout);
              return done({ worker, runId: r.id });
            }
          }
        } catch {
          // the store is being written; poll again
        }
      }, 50);
    });
    victim.worker.child.kill('SIGKILL');
    await victim.worker.closed;
    // With one worker, a new one takes over what the killed one held.
    if (workerCount === 1) workers.push(startWorker(queued.cwd, redis.url));

    const code = await closed;
    const tQueue = Date.now() - t1;
    expect({ code, stderr: code === 0 ? '' : stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(/\| lora \| lora \| 2\/2 \| \d\.\d{4} ± \d\.\d{4} \[/);

    const q = readStore(store);
    const lo = readStore(join(local.cwd, 'runs', 'experiments.sqlite'));
    // Four runs, each completed once; the killed one started twice, the others once.
    expect(q.runs.map((r) => `${r.label}/${r.seed}:${r.status}`)).toEqual(['lora/3:completed', 'lora/4:completed', 'ia3/3:completed', 'ia3/4:completed']);
    for (const r of q.runs) {
      expect(r.attempt).toBe(r.id === victim.runId ? 2 : 1);
      expect(q.steps.filter((s) => s.run_id === r.id).map((s) => s.step)).toEqual(Array.from({ length: r.total_steps! }, (_, i) => i + 1));
    }
    // Across the surviving workers' logs, each run completed exactly once (the killed worker finished none of its run).
    const logs = workers.filter((w) => w !== victim.worker).map((w) => w.log()).join('\n') + victim.worker.log();
    for (const r of q.runs) expect(logs.split('\n').filter((line) => line.includes(` run ${r.id} (${r.label} seed ${r.seed}) completed`))).toHaveLength(1);
    // The same figures as the local run (same seeds) and the same row counts (run_attempts: the killed attempt is not a finished one).
    expect(q.evals).toEqual(lo.evals);
    expect(q.losses).toEqual(lo.losses);
    expect(q.counts).toEqual(lo.counts);
    // No job config files are left in the project folder.
    expect(readdirSync(queued.cwd).filter((f) => f.startsWith('.leantune-job-'))).toEqual([]);
    process.stderr.write(`compare-queue: local ${(tLocal / 1000).toFixed(1)} s, queue with ${workerCount} worker(s) ${(tQueue / 1000).toFixed(1)} s\n`);
  }, 180_000);
});
