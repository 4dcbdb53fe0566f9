import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyHfCheckpoint } from '@leantune/plugin-hf';

// The single-run path as a user drives it, through the built CLI in child processes:
// train → Ctrl-C after the first checkpoint → resume → eval → predict → merge → predict.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const fixtures = join(__dirname, 'fixtures');
const cwd = mkdtempSync(join(tmpdir(), 'lt-single-run-'));
const leantune = (...args: string[]) => spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8' });
const lines = (text: string) => text.trim().split('\n').map((l) => JSON.parse(l));

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: repo });
});

/** Starts training and sends SIGINT as soon as the run folder holds its first checkpoint. */
function trainAndInterrupt(config: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    // output.dir given on the command line resolves from the current folder (from the config's folder otherwise).
    const child = spawn(process.execPath, [cliBin, 'train', '-c', config, '--json', '--override', JSON.stringify({ output: { dir: 'runs' } })], { cwd });
    let stdout = '';
    let stderr = '';
    let poll: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d) => {
      stdout += d;
      const start = /\{"type":"start","dir":"([^"]+)"/.exec(stdout);
      // checkpoints/latest is written (by rename) only once a complete checkpoint is in place.
      if (start && !poll) {
        poll = setInterval(() => {
          if (!existsSync(join(start[1], 'checkpoints', 'latest'))) return;
          clearInterval(poll);
          child.kill('SIGINT');
        }, 5);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => {
      clearInterval(poll);
      done({ code, stdout, stderr });
    });
  });
}

describe('single run on USE-lite + SpamAssassin, through the CLI', () => {
  let dir = '';
  let final: Record<string, number> = {};

  it('is interrupted after its first checkpoint, then resumed to the end', async () => {
    const config = join(fixtures, 'spam-lora.json');
    const first = await trainAndInterrupt(config);
    expect(first.stderr).toContain('interrupted at step');
    expect(first.code).toBe(130);
    const stopped = lines(first.stdout).at(-1);
    expect(stopped).toMatchObject({ type: 'interrupted' });
    dir = stopped.dir;
    expect(stopped.step).toBeGreaterThanOrEqual(2);
    expect(stopped.step).toBeLessThan(18);
    expect(JSON.parse(readFileSync(join(dir, 'run.json'), 'utf8'))).toMatchObject({ status: 'interrupted', step: stopped.step });
    expect(readdirSync(join(dir, 'checkpoints'))).toContain(`step-${String(stopped.step).padStart(8, '0')}`);
    expect(existsSync(join(dir, 'trainable.safetensors'))).toBe(false);

    const resumed = leantune('train', '--resume', dir, '--json');
    expect(resumed.status).toBe(0);
    const events = lines(resumed.stdout);
    expect(events[0]).toMatchObject({ type: 'start', resumed: true, step: stopped.step, totalSteps: 18 });
    const summary = events.at(-1);
    expect(summary).toMatchObject({ type: 'summary', dir, metrics: { steps: 18 } });
    final = summary.metrics;
    // Every step is in the history exactly once, across the two processes.
    const steps = lines(readFileSync(join(dir, 'metrics.jsonl'), 'utf8')).filter((e) => e.type === 'step').map((e) => e.step);
    expect(steps).toEqual(Array.from({ length: 18 }, (_, i) => i + 1));
    expect(readdirSync(join(dir, 'adapters', 'lora')).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
  }, 40_000);

  // Exact resume, end to end: the same config trained in one go must give the interrupted and
  // resumed run's weights and metrics bit for bit. Both runs use the same backend (auto picks
  // the same one on one machine; environment.json says which), so no tolerance is allowed:
  // optimizer state, data order, RNG and schedule all come back from the checkpoint exactly.
  it('ends with the same adapter tensors and metrics, bit for bit, as the same config run without interruption', () => {
    const straight = leantune('train', '-c', join(fixtures, 'spam-lora.json'), '--json', '--override', JSON.stringify({ output: { dir: 'runs-straight' } }));
    expect(straight.status).toBe(0);
    const events = lines(straight.stdout);
    expect(events[0]).toMatchObject({ type: 'start', resumed: false, step: 0 });
    const other = events.at(-1).dir as string;
    expect(other).not.toBe(dir);
    const backend = (run: string) => JSON.parse(readFileSync(join(run, 'environment.json'), 'utf8')).backend.name;
    expect(backend(other)).toBe(backend(dir));

    const weights = (run: string) => readFileSync(join(run, 'adapters', 'lora', 'adapter_model.safetensors'));
    expect(weights(other).length).toBeGreaterThan(1000);
    expect(weights(other).equals(weights(dir))).toBe(true);
    expect(readFileSync(join(other, 'adapters', 'lora', 'adapter_config.json'), 'utf8')).toBe(readFileSync(join(dir, 'adapters', 'lora', 'adapter_config.json'), 'utf8'));

    // Every logged figure but the clock and memory readings (which differ run to run).
    const timing = new Set(['samplesPerSec', 'stepTimeMs', 'rssMB']);
    const history = (run: string) =>
      lines(readFileSync(join(run, 'metrics.jsonl'), 'utf8')).map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !timing.has(k))));
    const [a, b] = [history(other), history(dir)];
    expect(a.filter((e) => e.type === 'step')).toHaveLength(18);
    expect(a.filter((e) => e.type === 'epoch')).toHaveLength(6);
    expect(b).toEqual(a);
    expect(JSON.parse(readFileSync(join(dir, 'metrics.json'), 'utf8'))).toEqual(JSON.parse(readFileSync(join(other, 'metrics.json'), 'utf8')));
    expect(events.at(-1).metrics).toEqual(final);
  }, 40_000);

  it('evaluates to the final metrics, predicts, merges, and predicts the same from the merged model', () => {
    const ev = leantune('eval', dir, '--json');
    expect(ev.status).toBe(0);
    const report = JSON.parse(ev.stdout);
    expect(report).toMatchObject({ split: 'validation', labels: ['ham', 'spam'] });
    for (const k of ['loss', 'accuracy', 'macro_f1']) expect(report.metrics[k]).toBeCloseTo(final[k], 5);

    const texts = ['WIN a FREE prize now, click here', 'Minutes of the meeting are attached'];
    const before = leantune('predict', dir, '-t', texts[0], '-t', texts[1]);
    expect(before.status).toBe(0);
    const merged = leantune('merge', dir, '-o', 'merged');
    expect(merged.status).toBe(0);
    const after = leantune('predict', '--model', 'merged', '-t', texts[0], '-t', texts[1]);
    expect(after.status).toBe(0);
    const [a, b] = [lines(before.stdout), lines(after.stdout)];
    expect(a.map((p) => p.input)).toEqual(texts);
    a.forEach((p, i) => {
      expect(b[i].label).toBe(p.label);
      expect(b[i].probabilities.spam).toBeCloseTo(p.probabilities.spam, 4);
    });
  }, 30_000);
});

describe('single run on a tiny GPT-2 checkpoint, with generate', () => {
  it('trains a LoRA, generates, merges to HF layout, and generates the same text', () => {
    writeTinyHfCheckpoint('gpt2', join(cwd, 'gpt2'));
    const texts = ['free prize inside', 'meeting at ten', 'win cash now', 'minutes attached', 'click here today', 'see you tomorrow'];
    writeFileSync(join(cwd, 'texts.jsonl'), texts.map((text) => JSON.stringify({ text })).join('\n'));
    const config = join(fixtures, 'gpt2-lora.json');
    const train = leantune('train', '-c', config, '--quiet', '--override', JSON.stringify({ model: { name: 'hf', path: join(cwd, 'gpt2') }, data: { name: 'jsonl', path: join(cwd, 'texts.jsonl'), text: 'text' }, output: { dir: 'runs' } }));
    expect(train.status).toBe(0);
    const dir = JSON.parse(train.stdout).dir;
    const gen = leantune('generate', dir, '-p', 'free prize', '--max-tokens', '5');
    expect(gen.status).toBe(0);
    expect(gen.stdout.startsWith('free prize')).toBe(true);
    expect(leantune('merge', dir, '-o', 'gpt2-merged').status).toBe(0);
    expect(readdirSync(join(cwd, 'gpt2-merged')).sort()).toEqual(['config.json', 'leantune-merged.json', 'model.safetensors', 'tokenizer.json']);
    expect(leantune('generate', '--model', 'gpt2-merged', '-p', 'free prize', '--max-tokens', '5').stdout).toBe(gen.stdout);
  }, 30_000);
});
