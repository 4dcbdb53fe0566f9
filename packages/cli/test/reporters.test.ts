import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { loadConfig } from '@leantune/core';
import { metricsJsonlReporter, trainToFolder, useDefaultReporters, type TrainEvent } from '@leantune/runner';
import { createTrainDriver } from '@leantune/train';
import { progressReporter } from '../src/reporters/progress';
import { cli, jsonLines, localConfig, onlyRun, tempDir } from './helpers';

const train = { epochs: 2, batchSize: 8, learningRate: 0.05, checkpointEvery: 2, evalEvery: 4 };
const override = (value: object) => ['--override', JSON.stringify(value)];
const TIMING = new Set(['samplesPerSec', 'stepTimeMs', 'rssMB']);
const withoutTiming = (lines: Record<string, unknown>[]) => lines.map((e) => Object.fromEntries(Object.entries(e).filter(([k]) => !TIMING.has(k))));

// Recorded from metrics.jsonl as the runner wrote it before the reporters became plugins
// (tiny-lora, 48 training records, batch 8, evalEvery 4): the order of the lines and the keys of each.
const STEP_KEYS = ['type', 'step', 'epoch', 'loss', 'lr', 'samplesPerSec', 'totalSteps', 'gradNorm', 'stepTimeMs', 'rssMB'];
const METRIC_KEYS = ['loss', 'accuracy', 'macro_f1', 'precision/neg', 'recall/neg', 'f1/neg', 'precision/pos', 'recall/pos', 'f1/pos'];
const RECORDED = ['step 1', 'step 2', 'step 3', 'step 4', 'eval 4', 'step 5', 'step 6', 'epoch 6', 'step 7', 'step 8', 'eval 8', 'step 9', 'step 10', 'step 11', 'step 12', 'epoch 12'];

function keysOf(line: Record<string, unknown>): string[] {
  if (line.type === 'step') return STEP_KEYS;
  if (line.type === 'eval') return ['type', 'epoch', 'step', ...METRIC_KEYS];
  return ['type', 'epoch', 'step', 'train_loss', ...METRIC_KEYS];
}

async function loaded(config: string) {
  return loadConfig(config, { trainer: createTrainDriver(), override: { train } });
}

describe('reporters are plugins on the run\'s hooks', () => {
  const cwd = tempDir('lt-reporters-');
  const config = localConfig(cwd);

  it('metrics.jsonl has the recorded lines and keys; --json prints the same events on stdout and no progress', async () => {
    const r = await cli(cwd, ['train', '-c', config, '--json', ...override({ train, output: { dir: 'json' } })]);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const history = jsonLines(readFileSync(join(onlyRun(cwd, 'json'), 'metrics.jsonl'), 'utf8'));
    expect(history.map((h) => `${h.type} ${h.step}`)).toEqual(RECORDED);
    for (const line of history) expect(Object.keys(line)).toEqual(keysOf(line));
    expect(history.filter((h) => h.type === 'step').every((h) => h.totalSteps === 12)).toBe(true);
    const events = jsonLines(r.out);
    expect(events[0]).toEqual({ type: 'start', dir: onlyRun(cwd, 'json'), step: 0, totalSteps: 12, resumed: false });
    expect(events.slice(1, -2)).toEqual(history);
    expect(events.at(-2)).toMatchObject({ type: 'checkpoint', step: 12 });
    expect(events.at(-1)).toMatchObject({ type: 'summary', metrics: { steps: 12 } });
  }, 30_000);

  it('without a terminal: the run folder, then a line per evaluation and epoch; --quiet: the run folder only', async () => {
    const lines = await cli(cwd, ['train', '-c', config, ...override({ train, output: { dir: 'lines' } })]);
    expect(lines.code).toBe(0);
    expect(lines.err.split('\n').filter((l) => !l.startsWith('leantune: backend'))).toEqual([
      `run folder: ${onlyRun(cwd, 'lines')}`,
      expect.stringMatching(/^step 4: loss \d\.\d{4}, accuracy \d\.\d{4}, macro_f1 \d\.\d{4}$/),
      expect.stringMatching(/^epoch 1: train_loss \d\.\d{4}, loss \d\.\d{4}, accuracy \d\.\d{4}, macro_f1 \d\.\d{4}$/),
      expect.stringMatching(/^step 8: /),
      expect.stringMatching(/^epoch 2: /),
      '',
    ]);
    const quiet = await cli(cwd, ['train', '-c', config, '--quiet', ...override({ train, output: { dir: 'quiet' } })]);
    expect(quiet.err).toBe(`run folder: ${onlyRun(cwd, 'quiet')}\n`);
  }, 30_000);

  it('on a terminal the progress reporter draws a bar to the end, and stops it', async () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 200, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
    let drawn = '';
    stream.on('data', (d) => (drawn += d));
    const lc = await loaded(config);
    const written: string[] = [];
    await lc.toolkit.use([{ plugin: progressReporter, options: { mode: 'bar', write: (t: string) => written.push(t), stream } }]);
    const outcome = await trainToFolder(lc, { baseDir: join(cwd, 'tty') });
    expect(written).toEqual([`run folder: ${outcome.dir}\n`]);
    expect(drawn).toContain('12/12 steps | epoch 2 | loss');
    expect(drawn).toContain('\u001b[?25h'); // the cursor comes back: the bar was stopped
  }, 30_000);

  it('the runner applies metrics.jsonl once per toolkit; leantune plugins lists both reporters', async () => {
    const lc = await loaded(config);
    await useDefaultReporters(lc.toolkit);
    await useDefaultReporters(lc.toolkit);
    expect(lc.toolkit.plugins.filter((p) => p.plugin === metricsJsonlReporter)).toHaveLength(1);
    const listed = JSON.parse((await cli(cwd, ['plugins', '-c', config, '--json'])).out);
    expect(listed.plugins.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['@leantune/runner:metrics-jsonl', '@leantune/cli:progress']));
  });

  it('resume continues metrics.jsonl with no step twice, also after lines written past the last checkpoint, and matches a run in one go', async () => {
    const straight = await trainToFolder(await loaded(config), { baseDir: join(cwd, 'straight') });
    const expected = withoutTiming(jsonLines(readFileSync(join(straight.dir, 'metrics.jsonl'), 'utf8')));

    const stop = new AbortController();
    const first = await trainToFolder(await loaded(config), {
      baseDir: join(cwd, 'resumed'),
      signal: stop.signal,
      onEvent: (e: TrainEvent) => void (e.type === 'step' && e.step === 5 && stop.abort()),
    });
    expect(first).toMatchObject({ status: 'interrupted', step: 5 });
    // As if the process had been killed after step 5 was logged but before its checkpoint: latest is step 4.
    rmSync(join(first.dir, 'checkpoints', 'step-00000005'), { recursive: true });
    writeFileSync(join(first.dir, 'checkpoints', 'latest'), 'step-00000004\n');
    const logged = jsonLines(readFileSync(join(first.dir, 'metrics.jsonl'), 'utf8'));
    expect(logged.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);

    const events: TrainEvent[] = [];
    const resumed = await trainToFolder(await loaded(config), { resume: first.dir, onEvent: (e) => events.push(e) });
    expect(resumed.status).toBe('completed');
    expect(events[0]).toEqual({ type: 'start', dir: first.dir, step: 4, totalSteps: 12, resumed: true });
    const history = withoutTiming(jsonLines(readFileSync(join(first.dir, 'metrics.jsonl'), 'utf8')));
    expect(history.filter((e) => e.type === 'step').map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(history).toEqual(expected);
  }, 60_000);
});
