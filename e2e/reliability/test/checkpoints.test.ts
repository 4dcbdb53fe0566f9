import { existsSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { createRng } from '@leantune/data';
import { hostileCase, repo, runCli, scratch, type ChildRun } from '../harness';

// Issue 19, checkpoints: every checkpoint file carries its sha256 in the manifest, resume
// skips a damaged checkpoint and says which and why, a run folder left by a kill (temp
// folders, metrics rows past the checkpoint) is tidied on resume, and a run killed at random
// points and resumed each time ends with exactly the weights of the run that was never killed.

const SUITE = 'checkpoints';
/** 32 records (a validation split held out), batch 4, 6 epochs, a checkpoint every 2 steps; the start event gives the step count. */
const config = {
  name: 'ckpt',
  plugins: ['./tiny-model.js', './tiny-data.js', 'datasets', 'lora'],
  model: 'tiny-text',
  methods: { lora: { r: 4, lora_alpha: 8 } },
  trainable: ['classifier\\..*'],
  data: { name: 'tiny-sentiment', count: 32 },
  train: { epochs: 6, batchSize: 4, learningRate: 0.05, checkpointEvery: 2 },
  runtime: { backend: 'cpu', seed: 7 },
  output: { dir: 'runs' },
};
/** Training cases are not bounded-input cases; they still must stay small and quick. */
const TRAIN_LIMITS = { mb: 800, seconds: 60 };

function project(): string {
  const dir = scratch('ckpt');
  writeFileSync(join(dir, 'leantune.json'), JSON.stringify(config, null, 2));
  // The tiny model and data plugins of @leantune/testing, as files in the project folder (plugin files load from there).
  const testing = JSON.stringify(join(repo, 'packages', 'testing'));
  writeFileSync(join(dir, 'tiny-model.js'), `module.exports = require(${testing}).tinyModelPlugin;\n`);
  writeFileSync(join(dir, 'tiny-data.js'), `module.exports = require(${testing}).tinyDataPlugin;\n`);
  return dir;
}

const events = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

/** Kills the run once its --json output shows step `n` (or later). */
const atStep = (n: number) => (stdout: string) => [...stdout.matchAll(/"type":"step","step":(\d+)/g)].some((m) => Number(m[1]) >= n);

function runFolder(cwd: string): string {
  const runs = readdirSync(join(cwd, 'runs'));
  expect(runs).toHaveLength(1);
  return join(cwd, 'runs', runs[0]);
}

/** A run killed (SIGKILL) once it has passed step `step`: an unfinished run folder with checkpoints 2, 4, … below it. */
async function killedRun(step: number): Promise<{ cwd: string; dir: string }> {
  const cwd = project();
  const r = await runCli(['train', '-c', 'leantune.json', '--json'], { cwd, killWhen: atStep(step), timeoutMs: 60_000 });
  expect(r.signal).toBe('SIGKILL');
  return { cwd, dir: runFolder(cwd) };
}

const resume = (cwd: string, dir: string, extra: Parameters<typeof runCli>[1] = {}) =>
  runCli(['train', '--resume', dir, '--json'], { cwd, timeoutMs: 60_000, ...extra });

/** Every file under `dir` with its sha256 (folders by name), to show that nothing was written. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir, { recursive: true }).map(String).sort()) {
    const p = join(dir, name);
    out[relative(dir, p)] = statSync(p).isDirectory() ? 'dir' : createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return out;
}

const leftovers = (dir: string) => readdirSync(dir, { recursive: true }).map(String).filter((n) => n.includes('.tmp'));

/** The logged figures of a run's history without the clock and memory readings. */
function history(dir: string): Record<string, unknown>[] {
  const timing = new Set(['samplesPerSec', 'stepTimeMs', 'rssMB']);
  return events(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !timing.has(k))));
}

const stepsOf = (dir: string) => history(dir).filter((e) => e.type === 'step').map((e) => e.step as number);
const adapter = (dir: string) => readFileSync(join(dir, 'adapters', 'lora', 'adapter_model.safetensors'));
const trainable = (dir: string) => readFileSync(join(dir, 'trainable.safetensors'));

let reference: { dir: string; totalSteps: number; stderr: string };

beforeAll(async () => {
  const cwd = project();
  const r = await runCli(['train', '-c', 'leantune.json', '--json'], { cwd, timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`the reference run failed: ${r.stderr}`);
  const start = events(r.stdout).find((e) => e.type === 'start')!;
  reference = { dir: runFolder(cwd), totalSteps: start.totalSteps as number, stderr: r.stderr };
}, 120_000);

/** Changes one bit of a file in place: same size, other content. */
function flipBit(file: string, fromEnd: number, mask: number): void {
  const bytes = readFileSync(file);
  bytes[bytes.length - fromEnd] ^= mask;
  writeFileSync(file, bytes);
}

const ckpt = (dir: string, step: number) => join(dir, 'checkpoints', `step-${String(step).padStart(8, '0')}`);

describe('checkpoints', () => {
  it('writes a sha256 for each checkpoint file in its manifest', () => {
    const manifest = JSON.parse(readFileSync(join(ckpt(reference.dir, 2), 'checkpoint.json'), 'utf8'));
    for (const file of ['weights.safetensors', 'optimizer.safetensors']) {
      const bytes = readFileSync(join(ckpt(reference.dir, 2), file));
      expect(manifest.files[file]).toEqual({ bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    }
  });

  /** Damages the latest checkpoint (step 6) of a killed run, resumes, and checks the resume skipped it, said why (`said`) and went on exactly from step 4. */
  async function resumePastDamage(name: string, damage: (folder: string) => RegExp): Promise<void> {
    const { cwd, dir } = await killedRun(7);
    const said = damage(ckpt(dir, 6));
    const r = await hostileCase(
      SUITE,
      name,
      () => resume(cwd, dir),
      (r: ChildRun) => {
        if (r.code !== 0) return `exit ${r.code}`;
        if (!said.test(r.stderr)) return `stderr does not say ${said}`;
        if (!/Using checkpoint .*step-00000004/.test(r.stderr)) return 'stderr does not say which checkpoint it resumed from';
        if (events(r.stdout)[0]?.step !== 4) return `resumed at step ${String(events(r.stdout)[0]?.step)}, not 4`;
        if (!adapter(dir).equals(adapter(reference.dir))) return 'final adapter weights differ from the uninterrupted run';
        return undefined;
      },
      TRAIN_LIMITS,
    );
    expect(r.code).toBe(0);
  }

  it('same-size corruption of the latest checkpoint: resume skips it, says which and why, and goes on from the previous one', () =>
    resumePastDamage('same-size corruption of the latest checkpoint', (folder) => {
      flipBit(join(folder, 'weights.safetensors'), 3, 0x01);
      return /Skipping checkpoint \S*step-00000006: weights\.safetensors has sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/;
    }), 120_000);

  it('a truncated latest checkpoint: resume says so on the console and goes on from the previous one', () =>
    resumePastDamage('truncated latest checkpoint', (folder) => {
      const optimizer = join(folder, 'optimizer.safetensors');
      const size = statSync(optimizer).size;
      truncateSync(optimizer, size - 10);
      return new RegExp(`Skipping checkpoint \\S*step-00000006: optimizer\\.safetensors has ${size - 10} bytes, the manifest says ${size}`);
    }), 120_000);

  it('all checkpoints bad: a clear error naming each and why, a non-zero exit, nothing written', async () => {
    const { cwd, dir } = await killedRun(7);
    flipBit(join(ckpt(dir, 2), 'weights.safetensors'), 1, 0x80);
    truncateSync(join(ckpt(dir, 4), 'weights.safetensors'), 16);
    rmSync(join(ckpt(dir, 6), 'checkpoint.json'));
    const before = snapshot(dir);
    const r = await hostileCase(SUITE, 'all checkpoints bad', () => resume(cwd, dir), (r: ChildRun) => {
      if (r.code === 0 || r.code === null) return `exit ${r.code}`;
      const problems = [
        [/step-00000002.*weights\.safetensors.*sha256/, 'step 2 and its hash mismatch'],
        [/step-00000004.*weights\.safetensors.*16 bytes/, 'step 4 and its size'],
        [/step-00000006.*checkpoint\.json/, 'step 6 and its missing manifest'],
      ] as const;
      const missing = problems.filter(([re]) => !re.test(r.stderr)).map(([, what]) => what);
      if (missing.length) return `the error does not name ${missing.join(', ')}`;
      const after = snapshot(dir);
      if (JSON.stringify(after) !== JSON.stringify(before)) return 'the run folder changed';
      return undefined;
    });
    expect(r.code).toBe(1);
  }, 120_000);

  it('resume removes the temp folders a kill left and keeps no duplicate metrics rows', async () => {
    const { cwd, dir } = await killedRun(9);
    // What a kill leaves halfway through the atomic writes: a checkpoint being built, the
    // `latest` pointer, a metrics file being rewritten, an adapter folder being saved.
    mkdirSync(join(dir, 'checkpoints', '.tmp-step-00000010-4242-abc-def'));
    writeFileSync(join(dir, 'checkpoints', '.tmp-step-00000010-4242-abc-def', 'weights.safetensors'), 'half');
    writeFileSync(join(dir, 'checkpoints', '.tmp-latest-4242-abc-def'), 'step-00000010');
    writeFileSync(join(dir, 'metrics.jsonl.4242.tmp'), '{"type":"step"');
    mkdirSync(join(dir, 'adapters', '.tmp-lora-4242'), { recursive: true });
    expect(Math.max(...stepsOf(dir))).toBeGreaterThan(8);
    const r = await hostileCase(
      SUITE,
      'temp folders and metrics rows left by a kill',
      () => resume(cwd, dir),
      (r: ChildRun) => {
        if (r.code !== 0) return `exit ${r.code}`;
        if (leftovers(dir).length) return `left: ${leftovers(dir).join(', ')}`;
        const steps = stepsOf(dir);
        if (JSON.stringify(steps) !== JSON.stringify(Array.from({ length: reference.totalSteps }, (_, i) => i + 1))) return `metrics.jsonl steps: ${steps.join(',')}`;
        if (JSON.stringify(history(dir)) !== JSON.stringify(history(reference.dir))) return 'metrics.jsonl differs from the uninterrupted run';
        return undefined;
      },
      TRAIN_LIMITS,
    );
    expect(r.code).toBe(0);
  }, 120_000);

  it('SIGKILL at random points, resumed each time, ends with exactly the uninterrupted run’s weights', async () => {
    const random = createRng(19);
    const total = reference.totalSteps;
    // One kill point in each of five stretches of the run, after the first checkpoint.
    const kills = Array.from({ length: 5 }, (_, i) => {
      const lo = 3 + Math.floor(((total - 4) * i) / 5);
      const hi = 3 + Math.floor(((total - 4) * (i + 1)) / 5) - 1;
      return lo + Math.floor(random() * (hi - lo + 1));
    });
    const cwd = project();
    let dir = '';
    const r = await hostileCase(
      SUITE,
      `SIGKILL at steps ${kills.join(', ')}, resumed each time`,
      async () => {
        // The case's figures: the peak of all six processes, their time together.
        const runs: ChildRun[] = [];
        const total = (last: ChildRun): ChildRun => ({ ...last, peakMB: Math.max(...runs.map((r) => r.peakMB)), seconds: runs.reduce((s, r) => s + r.seconds, 0) });
        for (const [i, step] of kills.entries()) {
          const args = i === 0 ? ['train', '-c', 'leantune.json', '--json'] : ['train', '--resume', dir, '--json'];
          runs.push(await runCli(args, { cwd, killWhen: atStep(step), timeoutMs: 60_000 }));
          if (runs[i].signal !== 'SIGKILL') return total(runs[i]);
          if (i === 0) dir = runFolder(cwd);
        }
        runs.push(await resume(cwd, dir));
        return total(runs[runs.length - 1]);
      },
      (r: ChildRun) => {
        if (r.code !== 0) return `the last resume: exit ${r.code} signal ${r.signal}`;
        if (!trainable(dir).equals(trainable(reference.dir))) return 'trainable.safetensors differs from the uninterrupted run';
        if (!adapter(dir).equals(adapter(reference.dir))) return 'adapter_model.safetensors differs from the uninterrupted run';
        const steps = stepsOf(dir);
        if (JSON.stringify(steps) !== JSON.stringify(Array.from({ length: total }, (_, i) => i + 1))) return `metrics.jsonl steps: ${steps.join(',')}`;
        if (leftovers(dir).length) return `left: ${leftovers(dir).join(', ')}`;
        return undefined;
      },
      { mb: 800, seconds: 120 },
    );
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'run.json'))).toBe(true);
  }, 300_000);
});
