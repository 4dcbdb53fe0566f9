import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, jsonLines, localConfig, onlyRun, tempDir } from '../../../packages/cli/test/helpers';
import { readEvents, type ReadEvent } from './read-events';

/** The tiny fixture config in `dir` with this plugin enabled (by its short name, as users write it). */
function trackedConfig(dir: string, entry: unknown, train: Record<string, unknown> = {}): string {
  const file = localConfig(dir);
  const config = JSON.parse(readFileSync(file, 'utf8'));
  config.plugins.push(entry);
  Object.assign(config.train, train);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function onlyEventFile(dir: string): string {
  const files = readdirSync(dir).filter((f) => f.startsWith('events.out.tfevents.'));
  expect(files).toHaveLength(1);
  return join(dir, files[0]);
}

/** step → tag → value, over all events. */
function byStep(events: ReadEvent[]): Map<number, Record<string, number>> {
  const out = new Map<number, Record<string, number>>();
  for (const e of events) out.set(e.step, { ...out.get(e.step), ...e.scalars });
  return out;
}

describe('track-tensorboard through the CLI', () => {
  it('a run of the tiny model writes <run>/tensorboard/events.out.tfevents.*; every step, epoch and eval value reads back as in metrics.jsonl', async () => {
    const cwd = tempDir('lt-tb-');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, 'track-tensorboard', { evalEvery: 3 }), '--quiet']);
    expect(r.err).not.toMatch(/track-tensorboard/);
    expect(r.code).toBe(0);
    const run = onlyRun(cwd);
    const events = readEvents(onlyEventFile(join(run, 'tensorboard')));
    expect(events[0].fileVersion).toBe('brain.Event:2');
    const tb = byStep(events.slice(1));
    const history = jsonLines(readFileSync(join(run, 'metrics.jsonl'), 'utf8'));
    const steps = history.filter((l) => l.type === 'step');
    expect(steps.length).toBe(12);
    for (const s of steps) {
      const got = tb.get(s.step)!;
      for (const key of ['loss', 'lr', 'gradNorm', 'samplesPerSec', 'rssMB', 'stepTimeMs']) {
        if (typeof s[key] === 'number') expect([key, got[`train/${key}`]]).toEqual([key, Math.fround(s[key])]);
      }
      expect(got['train/loss']).toBeDefined();
    }
    const evals = history.filter((l) => l.type === 'eval' || l.type === 'epoch');
    expect(evals.filter((l) => l.type === 'eval').length).toBeGreaterThan(0);
    for (const e of evals) {
      const got = tb.get(e.step)!;
      for (const [key, value] of Object.entries(e)) {
        if (['type', 'step', 'epoch'].includes(key) || typeof value !== 'number') continue;
        const tag = key === 'train_loss' ? 'train/epoch_loss' : `eval/${key}`;
        expect([tag, got[tag]]).toEqual([tag, Math.fround(value)]);
      }
    }
    expect(Object.keys(tb.get(evals[0].step)!)).toEqual(expect.arrayContaining(['eval/accuracy', 'eval/loss']));
  }, 60_000);

  it('option logDir puts each run in <logDir>/<run folder name>; a bad option fails validation naming it', async () => {
    const cwd = tempDir('lt-tb-logdir-');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, ['track-tensorboard', { logDir: 'tb', stepEvery: 2 }], { epochs: 1 }), '--quiet']);
    expect(r.code).toBe(0);
    const run = onlyRun(cwd);
    expect(existsSync(join(run, 'tensorboard'))).toBe(false);
    const steps = readEvents(onlyEventFile(join(cwd, 'tb', run.split('/').pop()!)))
      .filter((e) => 'train/loss' in e.scalars)
      .map((e) => e.step);
    expect(steps).toEqual([2, 4, 6]);

    const bad = await cli(cwd, ['validate', '-c', trackedConfig(cwd, ['track-tensorboard', { stepEvery: 0, logdir: 'x' }])]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/stepEvery/);
    expect(bad.err).toMatch(/logdir/);
  }, 60_000);

  it('a resumed run writes a new event file into its own folder', async () => {
    const cwd = tempDir('lt-tb-resume-');
    const config = trackedConfig(cwd, 'track-tensorboard', { epochs: 1 });
    expect((await cli(cwd, ['train', '-c', config, '--quiet'])).code).toBe(0);
    // A copy of the finished run, marked interrupted at its step-4 checkpoint: the resume trains steps 5 and 6 again.
    const resumed = join(cwd, 'resumed');
    cpSync(onlyRun(cwd), resumed, { recursive: true });
    const record = JSON.parse(readFileSync(join(resumed, 'run.json'), 'utf8'));
    writeFileSync(join(resumed, 'run.json'), JSON.stringify({ ...record, status: 'interrupted' }));
    writeFileSync(join(resumed, 'checkpoints', 'latest'), 'step-00000004');
    const r = await cli(cwd, ['train', '--resume', resumed, '--quiet']);
    expect(r.code).toBe(0);
    const files = readdirSync(join(resumed, 'tensorboard'));
    expect(files).toHaveLength(2);
    const steps = files.map((f) => readEvents(join(resumed, 'tensorboard', f)).filter((e) => 'train/loss' in e.scalars).map((e) => e.step));
    // The first run's steps, then the resumed run's from the checkpoint at step 4 on.
    expect(steps.sort((a, b) => b.length - a.length)).toEqual([[1, 2, 3, 4, 5, 6], [5, 6]]);
  }, 60_000);

  it('an unwritable log folder only warns: training completes', async () => {
    const cwd = tempDir('lt-tb-broken-');
    writeFileSync(join(cwd, 'taken'), 'a file, not a folder');
    const r = await cli(cwd, ['train', '-c', trackedConfig(cwd, ['track-tensorboard', { logDir: 'taken' }], { epochs: 1 }), '--quiet']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/track-tensorboard: cannot write the event file \(open\).*training goes on/);
    expect(JSON.parse(readFileSync(join(onlyRun(cwd), 'run.json'), 'utf8')).status).toBe('completed');
  }, 60_000);
});
