import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';

// `leantune compare` as a user drives it, through the built CLI in child processes, on the
// tiny model and data: the coordinator killed mid-comparison and resumed, and an arm that
// crashes on purpose recorded as failed while the others finish.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const fixtures = join(__dirname, 'fixtures');

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js')) || !existsSync(join(repo, 'packages', 'report', 'dist', 'index.js'))) {
    execFileSync('npx', ['tsc', '-b', 'packages/cli'], { cwd: repo });
  }
});

/** A folder with the tiny model and data plugins and a compare config over `methods`. */
function project(name: string, methods: unknown[], epochs = 2): { cwd: string; config: string } {
  const cwd = mkdtempSync(join(tmpdir(), `lt-compare-${name}-`));
  for (const f of ['tiny-model.js', 'tiny-data.js']) copyFileSync(join(fixtures, f), join(cwd, f));
  const config = join(cwd, 'leantune.json');
  writeFileSync(
    config,
    JSON.stringify({
      name,
      plugins: ['./tiny-model.js', './tiny-data.js', 'lora', 'ia3', 'bitfit'],
      model: 'tiny-text',
      methods: { lora: { r: 4, lora_alpha: 8, modules_to_save: ['classifier'] } },
      data: { name: 'tiny-sentiment', count: 48 },
      train: { epochs, batchSize: 8, learningRate: 0.05 },
      runtime: { backend: 'cpu', seed: 3 },
      output: { dir: 'runs' },
      compare: { methods },
    }),
  );
  return { cwd, config };
}

const leantune = (cwd: string, ...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8' });
const experimentName = (stderr: string) => /compare: experiment (\S+) in /.exec(stderr)?.[1];

interface RunRecord {
  id: number;
  label: string;
  seed: number;
  status: string;
  attempt: number;
  total_steps: number | null;
  failure_kind: string | null;
  failure_reason: string | null;
}

function readStore(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    const runs = db.prepare('SELECT r.*, a.label FROM runs r JOIN arms a ON a.id = r.arm_id ORDER BY a.position, r.seed').all() as RunRecord[];
    const steps = db.prepare('SELECT run_id, step FROM step_metrics ORDER BY run_id, step').all() as Array<{ run_id: number; step: number }>;
    const finals = db.prepare("SELECT run_id, COUNT(*) AS n FROM eval_metrics WHERE split = 'validation' AND name = 'accuracy' GROUP BY run_id").all() as Array<{
      run_id: number;
      n: number;
    }>;
    const artifacts = db.prepare("SELECT run_id, kind, sha256 FROM artifacts WHERE kind LIKE 'adapter:%'").all() as Array<{ run_id: number; kind: string; sha256: string }>;
    return { runs, steps, finals, artifacts };
  } finally {
    db.close();
  }
}

/**
 * `leantune compare` of lora and ia3 over two seeds, one run at a time, in the background.
 * Each run takes 20 epochs (120 steps, several seconds), so the poll sees one in progress
 * with steps recorded; at 2 epochs a run took 1.4 s and a loaded CI machine missed them all.
 */
function startCompare(name: string) {
  const { cwd, config } = project(name, ['lora', 'ia3'], 20);
  const child = spawn(process.execPath, [cliBin, 'compare', '-c', config, '--seeds', '2', '--concurrency', '1'], { cwd });
  let text = '';
  child.stderr.on('data', (d) => (text += d));
  child.stdout.resume();
  const closed = new Promise<{ code: number | null; signal: string | null }>((done) => child.on('close', (code, signal) => done({ code, signal })));
  return { cwd, config, store: join(cwd, 'runs', 'experiments.sqlite'), child, stderr: () => text, closed };
}

/**
 * How long a run may take to start and record a step: a `leantune train` child on a CI machine
 * whose other jest worker is busy took over 40 s once; the tests' own timeouts leave room.
 */
const WAIT_S = 150;

/** Resolves with the runs once one is running with steps recorded (and, with afterOne, another completed). */
function whenRunning(store: string, stderr: () => string, afterOne: boolean): Promise<RunRecord[]> {
  return new Promise((done, fail) => {
    const timeout = setTimeout(() => {
      clearInterval(poll);
      fail(new Error(`no run was in progress after ${WAIT_S} s; stderr:\n${stderr()}`));
    }, WAIT_S * 1000);
    const poll = setInterval(() => {
      if (!existsSync(store)) return;
      try {
        const { runs, steps } = readStore(store);
        const running = runs.find((r) => r.status === 'running');
        if ((!afterOne || runs.some((r) => r.status === 'completed')) && running && steps.some((s) => s.run_id === running.id)) {
          clearInterval(poll);
          clearTimeout(timeout);
          done(runs);
        }
      } catch {
        // the store is being created; poll again
      }
    }, 50);
  });
}

describe('leantune compare, kept in SQLite', () => {
  it('survives a SIGKILL of the coordinator: --resume finishes with every run exactly once', async () => {
    const { cwd, config, store, child, stderr, closed } = startCompare('killed');
    // Kill it once a run has completed and the next one is part-way through its steps.
    const killedAt = await whenRunning(store, stderr, true);
    child.kill('SIGKILL');
    expect(await closed).toEqual({ code: null, signal: 'SIGKILL' });
    const name = experimentName(stderr())!;
    expect(name).toMatch(/^killed-\d{8}-\d{6}$/);
    const interruptedRun = killedAt.find((r) => r.status === 'running')!;
    const completedBefore = killedAt.filter((r) => r.status === 'completed').map((r) => r.id);

    const resumed = leantune(cwd, 'compare', '-c', config, '--resume', name, '--concurrency', '1');
    expect(resumed.stderr).toContain(`(${completedBefore.length} of 4 completed before, skipped)`);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toMatch(/\| lora \| lora \| 2\/2 \| \d\.\d{4} ± \d\.\d{4} \[/);
    expect(resumed.stdout).toMatch(/^Best by mean accuracy: (lora|ia3) /m);

    const { runs, steps, finals, artifacts } = readStore(store);
    // Four runs, two arms × two seeds, each completed once: no run lost, none twice.
    expect(runs.map((r) => `${r.label}/${r.seed}:${r.status}`)).toEqual(['lora/3:completed', 'lora/4:completed', 'ia3/3:completed', 'ia3/4:completed']);
    for (const r of runs) {
      // Completed before the kill: not run again. Killed mid-run: run again from its first step.
      expect(r.attempt).toBe(completedBefore.includes(r.id) ? 1 : r.id === interruptedRun.id ? 2 : 1);
      expect(steps.filter((s) => s.run_id === r.id).map((s) => s.step)).toEqual(Array.from({ length: r.total_steps! }, (_, i) => i + 1));
      expect(finals.find((f) => f.run_id === r.id)?.n).toBe(1);
      expect(artifacts.filter((a) => a.run_id === r.id).map((a) => a.kind)).toEqual([`adapter:${r.label}`]);
    }
    expect(steps).toHaveLength(runs.reduce((n, r) => n + r.total_steps!, 0));
  }, 300_000);

  it('Ctrl-C stops the runs with a checkpoint, records them as interrupted and exits 130 with the command to resume', async () => {
    const { config, store, child, stderr, closed } = startCompare('stopped');
    await whenRunning(store, stderr, false);
    child.kill('SIGINT');
    expect((await closed).code).toBe(130);
    const name = experimentName(stderr())!;
    expect(stderr()).toContain(`compare interrupted; continue with: leantune compare -c ${config} --resume ${name}`);
    const { runs } = readStore(store);
    // The run in progress stopped with a checkpoint (exit 130); the ones after it never started.
    expect(runs.map((r) => `${r.label}/${r.seed}:${r.status}:${r.failure_kind}`)).toEqual(['lora/3:failed:interrupted', 'lora/4:pending:null', 'ia3/3:pending:null', 'ia3/4:pending:null']);
    expect(runs[0].failure_reason).toMatch(/^interrupted \(exit 130\): .*interrupted at step \d+/);
  }, 240_000);

  it('records an arm that crashes on purpose as failed with its reason, while the other arms finish', () => {
    const { cwd, config } = project('crashy', ['ia3', { id: 'lora', label: 'lora-broken', config: { r: 4, target_modules: ['no_such_layer'] } }, 'bitfit']);
    const r = leantune(cwd, 'compare', '-c', config, '--concurrency', '2');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('| lora-broken | lora | 0/1 (1 failed) |');
    expect(r.stdout).toContain('lora-broken seed 3: crashed: exit 1: leantune: Method "lora" failed to inject into model "tiny-text": LoRA target_modules ["no_such_layer"] matched no module');
    const { runs } = readStore(join(cwd, 'runs', 'experiments.sqlite'));
    expect(runs.map((x) => `${x.label}:${x.status}`)).toEqual(['ia3:completed', 'lora-broken:failed', 'bitfit:completed']);
    expect(runs[1]).toMatchObject({ failure_kind: 'crashed', failure_reason: expect.stringMatching(/^exit 1: leantune: Method "lora" failed to inject/) });

    // The report of that experiment lists the failure and every arm.
    const name = experimentName(r.stderr)!;
    const report = leantune(cwd, 'report', name, '-o', join(cwd, 'out', 'report.html'));
    expect(report.status).toBe(0);
    const html = readFileSync(join(cwd, 'out', 'report.html'), 'utf8');
    expect(html).toContain('matched no module');
    const md = readFileSync(join(cwd, 'out', 'report.md'), 'utf8');
    expect(md.split('\n').filter((l) => /^\| (ia3|lora-broken|bitfit) \|/.test(l))).toHaveLength(3);
    const results = JSON.parse(readFileSync(join(cwd, 'out', 'results', 'lora-broken--seed-3.json'), 'utf8'));
    expect(results.train_info.status).toBe('failed');
    expect(results.run_info.error_msg).toMatch(/^exit 1: leantune: Method "lora" failed to inject/);
    expect(JSON.parse(readFileSync(join(cwd, 'out', 'results', 'ia3--seed-3.json'), 'utf8')).train_info).toMatchObject({ status: 'success', num_trainable_params: expect.any(Number) });
  }, 240_000);

  it('an arm\'s model options (model.quantize) reach its runs and its resolved config; a bad one fails before any run folder, a changed one refuses --resume', () => {
    const arms = [
      { id: 'lora', label: 'lora-int8', model: { quantize: 'int8' } },
      { id: 'lora', label: 'lora-nf4dq', model: { quantize: { type: 'nf4', doubleQuant: true } } },
    ];
    const { cwd, config } = project('quant', arms, 1);
    const r = leantune(cwd, 'compare', '-c', config, '--concurrency', '1');
    expect(r.status).toBe(0);
    const db = new Database(join(cwd, 'runs', 'experiments.sqlite'), { readonly: true });
    const stored = db.prepare('SELECT label, resolved_config_json FROM arms ORDER BY position').all() as Array<{ label: string; resolved_config_json: string }>;
    db.close();
    expect(stored.map((a) => [a.label, JSON.parse(a.resolved_config_json).model])).toEqual([
      ['lora-int8', { name: 'tiny-text', quantize: 'int8' }],
      ['lora-nf4dq', { name: 'tiny-text', quantize: { type: 'nf4', doubleQuant: true } }],
    ]);
    // Each run trained with its arm's quantize (the run folder's config) and the base's other options.
    const runDirs = readdirSync(join(cwd, 'runs')).filter((d) => d.includes('-quant-lora-'));
    const quantizeOf = (arm: string) => JSON.parse(readFileSync(join(cwd, 'runs', runDirs.find((d) => d.includes(`-${arm}-seed`))!, 'config.json'), 'utf8')).model;
    expect(runDirs).toHaveLength(2);
    expect(quantizeOf('lora-int8')).toEqual({ name: 'tiny-text', quantize: 'int8' });
    expect(quantizeOf('lora-nf4dq')).toEqual({ name: 'tiny-text', quantize: { type: 'nf4', doubleQuant: true } });

    // Resuming after an arm's model override changed is refused, naming the path.
    const changed = JSON.parse(readFileSync(config, 'utf8'));
    changed.compare.methods[0].model.quantize = 'bf16';
    writeFileSync(config, JSON.stringify(changed));
    const resumed = leantune(cwd, 'compare', '-c', config, '--resume', experimentName(r.stderr)!);
    expect(resumed.status).toBe(2);
    expect(resumed.stderr).toContain('arm "lora-int8" resolves differently');
    expect(resumed.stderr).toContain('model.quantize: "int8" → "bf16"');

    // A bad quantize in the last arm fails before the store or any run folder exists.
    const bad = project('badquant', ['lora', { id: 'lora', label: 'lora-q3', model: { quantize: 'nf3' } }]);
    const b = leantune(bad.cwd, 'compare', '-c', bad.config);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('compare arm "lora-q3"');
    expect(b.stderr).toContain('/model/quantize: must be one of "bf16", "fp16", "int8", "nf4" (got "nf3")');
    expect(existsSync(join(bad.cwd, 'runs'))).toBe(false);
  }, 240_000);
});

describe('leantune compare: an arm\'s own train options', () => {
  it('an arm\'s train options (train.learningRate) reach its runs and its resolved config, merged over the config\'s train; a bad one fails before any run folder, a changed one refuses --resume, an added one runs alone', () => {
    const arms = ['lora', { id: 'lora', label: 'lora-lr0.01', train: { learningRate: 0.01 } }];
    const { cwd, config } = project('armtrain', arms, 1);
    const r = leantune(cwd, 'compare', '-c', config, '--concurrency', '1');
    expect(r.status).toBe(0);
    const db = new Database(join(cwd, 'runs', 'experiments.sqlite'), { readonly: true });
    const stored = db.prepare('SELECT label, resolved_config_json FROM arms ORDER BY position').all() as Array<{ label: string; resolved_config_json: string }>;
    db.close();
    expect(stored.map((a) => [a.label, JSON.parse(a.resolved_config_json).train.learningRate])).toEqual([
      ['lora', 0.05],
      ['lora-lr0.01', 0.01],
    ]);
    // Each run trained with its arm's learning rate (the run folder's config) and the config's other train options.
    const runDirs = readdirSync(join(cwd, 'runs')).filter((d) => d.includes('-armtrain-lora'));
    const trainOf = (seedDir: RegExp) => JSON.parse(readFileSync(join(cwd, 'runs', runDirs.find((d) => seedDir.test(d))!, 'config.json'), 'utf8')).train;
    expect(runDirs).toHaveLength(2);
    expect(trainOf(/-armtrain-lora-seed/)).toMatchObject({ epochs: 1, batchSize: 8, learningRate: 0.05 });
    expect(trainOf(/-armtrain-lora-lr0\.01-seed/)).toMatchObject({ epochs: 1, batchSize: 8, learningRate: 0.01 });

    // Resuming after an arm's train override changed is refused, naming the path.
    const changed = JSON.parse(readFileSync(config, 'utf8'));
    changed.compare.methods[1].train.learningRate = 0.02;
    writeFileSync(config, JSON.stringify(changed));
    const resumed = leantune(cwd, 'compare', '-c', config, '--resume', experimentName(r.stderr)!);
    expect(resumed.status).toBe(2);
    expect(resumed.stderr).toContain('arm "lora-lr0.01" resolves differently');
    expect(resumed.stderr).toContain('train.learningRate: 0.01 → 0.02');

    // Restored, with one more method and a new description: the resume adds that arm and runs only it.
    changed.compare.methods[1].train.learningRate = 0.01;
    changed.compare.methods.push('ia3');
    changed.description = 'lora at two learning rates, then ia3 beside them';
    writeFileSync(config, JSON.stringify(changed));
    const added = leantune(cwd, 'compare', '-c', config, '--resume', experimentName(r.stderr)!);
    expect(added.status).toBe(0);
    expect(added.stderr).toContain('compare: added ia3 to it, on the same seeds');
    expect(added.stdout).toMatch(/\| ia3 \| ia3 \| 1\/1 \| \d\.\d{4} /);
    expect(added.stdout).toContain('(1 runs completed now, 2 before, 0 failed)');
    expect(readdirSync(join(cwd, 'runs')).filter((d) => d.includes('-armtrain-'))).toHaveLength(3);

    // A bad learning rate in the last arm fails before the store or any run folder exists.
    const bad = project('badtrain', ['lora', { id: 'lora', label: 'lora-neg', train: { learningRate: -1 } }]);
    const b = leantune(bad.cwd, 'compare', '-c', bad.config);
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('compare arm "lora-neg"');
    expect(b.stderr).toContain('train options');
    expect(b.stderr).toContain('/train/learningRate');
    expect(existsSync(join(bad.cwd, 'runs'))).toBe(false);
  }, 240_000);
});
