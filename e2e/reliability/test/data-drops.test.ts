import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostileCase, repo, runCli, scratch, type ChildRun } from '../harness';
import { writeNpy } from '../../../plugins/method-vpt/test/fixtures/cli';

// Bad data is reported where the user looks: every row a data stage drops is named on the
// console (counts, reasons, first lines), not only in data-reports.json; a file that leaves
// no training record (empty, binary, every line bad) fails before a run folder is made,
// naming the file and why its rows were dropped.
const SUITE = 'data-drops';

/** A project folder with `data/<file>` and a config training the tiny test model on it. */
function project(file: string, content: string | Buffer): string {
  const dir = scratch(SUITE);
  mkdirSync(join(dir, 'data'));
  writeFileSync(join(dir, 'data', file), content);
  // The tiny test model, as a plugin file inside the project folder (plugins load from there).
  writeFileSync(join(dir, 'tiny-model.js'), `module.exports = require(${JSON.stringify(join(repo, 'packages', 'testing'))}).tinyModelPlugin;\n`);
  const config = {
    name: 'data-drops',
    plugins: ['./tiny-model.js', 'datasets', 'lora'],
    model: 'tiny-text',
    methods: { lora: { r: 4, lora_alpha: 8 } },
    trainable: ['classifier\\..*'],
    data: { name: 'jsonl', path: `data/${file}` },
    train: { epochs: 1, batchSize: 4, learningRate: 0.05 },
    runtime: { backend: 'cpu', seed: 7 },
    output: { dir: 'runs' },
  };
  writeFileSync(join(dir, 'leantune.json'), JSON.stringify(config, null, 2));
  return dir;
}

const train = (dir: string) => () => runCli(['train', '-c', join(dir, 'leantune.json'), '--quiet'], { cwd: dir });

/** Nothing in the run folder parent: no run folder was made. */
function noRunFolder(dir: string): string | undefined {
  const runs = join(dir, 'runs');
  if (existsSync(runs) && readdirSync(runs).length > 0) return `a run folder was made: ${readdirSync(runs).join(', ')}`;
  return undefined;
}

const texts = ['free money now', 'meeting at ten', 'win a prize', 'see the minutes', 'cheap pills', 'lunch tomorrow', 'click here', 'project update'];
const line = (i: number) => JSON.stringify({ text: texts[i % texts.length], label: i % 2 ? 'neg' : 'pos' });

/** Fails with the reason when the run did not fail cleanly (exit 1) naming `file` and matching every pattern. */
function failsNaming(dir: string, file: string, patterns: RegExp[]) {
  return (r: ChildRun): string | undefined => {
    if (r.code !== 1) return `exit ${r.code}, expected 1`;
    if (!r.stderr.includes(file)) return `stderr does not name ${file}`;
    const missing = patterns.filter((p) => !p.test(r.stderr));
    if (missing.length) return `stderr lacks ${missing.join(', ')}`;
    return noRunFolder(dir);
  };
}

describe('bad data is reported on the console, and data that leaves nothing fails before a run folder', () => {
  it('malformed JSONL lines are named on the console with counts, reasons and line numbers; the run goes on', async () => {
    const lines = Array.from({ length: 10 }, (_, i) => line(i));
    lines[2] = '{"text": "cut off';
    lines[6] = 'not json at all';
    const dir = project('x.jsonl', lines.join('\n') + '\n');
    await hostileCase(SUITE, 'malformed JSONL lines named on the console', train(dir), (r) => {
      if (r.code !== 0) return `exit ${r.code}, expected 0 (the good lines train)`;
      if (!/dropped 2 of 10 lines of data\/x\.jsonl: 2 invalid-json \(lines 3, 7\)/.test(r.stderr)) return 'stderr does not name the two dropped lines with their reason';
      return undefined;
    });
  }, 60_000);

  it('an empty file fails naming the file, with no run folder', async () => {
    const dir = project('empty.jsonl', '');
    await hostileCase(SUITE, 'empty JSONL file', train(dir), failsNaming(dir, 'data/empty.jsonl', [/no training records/, /empty/]));
  }, 60_000);

  it('a binary file fails naming the file and the reasons, with no run folder', async () => {
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256;
    const dir = project('binary.jsonl', bytes);
    await hostileCase(SUITE, 'binary file as JSONL', train(dir), failsNaming(dir, 'data/binary.jsonl', [/no training records/, /dropped \d+ of \d+ lines/, /invalid-json/]));
  }, 60_000);

  it('a file whose every line is bad fails naming the file, each reason with its count and lines, with no run folder', async () => {
    const content = ['{"text": "cut off', '[1, 2]', '{"text": 5, "label": "pos"}', 'nope', '"a string"'].join('\n') + '\n';
    const dir = project('bad.jsonl', content);
    await hostileCase(
      SUITE,
      'all-bad JSONL file',
      train(dir),
      failsNaming(dir, 'data/bad.jsonl', [/dropped 5 of 5 lines/, /2 invalid-json \(lines 1, 4\)/, /2 not-an-object \(lines 2, 5\)/, /1 bad-text \(line 3\)/]),
    );
  }, 60_000);
});

/**
 * A project training MobileNetV2 (real weights, 32 px input) with BitFit on an image folder
 * of 8×8 .npy images, two classes: grey (h, w) ones as MNIST has, and `extra` files.
 */
function imageProject(extra: Record<string, { data: Uint8Array; shape: number[] }> = {}): string {
  const dir = scratch(`${SUITE}-img`);
  for (const [cls, shade] of [['dark', 40], ['light', 200]] as const) {
    mkdirSync(join(dir, 'images', cls), { recursive: true });
    for (let i = 0; i < 3; i++) writeNpy(join(dir, 'images', cls, `${i}.npy`), Uint8Array.from({ length: 64 }, (_, p) => shade + ((p * (i + 1)) % 17)), [8, 8]);
  }
  for (const [file, { data, shape }] of Object.entries(extra)) writeNpy(join(dir, 'images', file), data, shape);
  const config = {
    name: 'grey-images',
    plugins: ['datasets', 'mobilenet-v2', 'bitfit'],
    model: { name: 'mobilenet-v2', inputSize: 32 },
    methods: { bitfit: {} },
    data: { name: 'image-folder', path: 'images' },
    train: { epochs: 1, batchSize: 4, learningRate: 0.01 },
    runtime: { backend: 'cpu', seed: 7 },
    output: { dir: 'runs' },
  };
  writeFileSync(join(dir, 'leantune.json'), JSON.stringify(config, null, 2));
  return dir;
}

/** The status each run folder's run.json records. */
const runStatuses = (dir: string) =>
  existsSync(join(dir, 'runs')) ? readdirSync(join(dir, 'runs')).map((d) => JSON.parse(readFileSync(join(dir, 'runs', d, 'run.json'), 'utf8')).status) : [];

describe('images in whatever form: grey trains, an unusable image is named before a run folder', () => {
  it('grey (1-channel) images train MobileNetV2 with BitFit', async () => {
    const dir = imageProject();
    await hostileCase(
      SUITE,
      'grey images into MobileNetV2 (BitFit)',
      train(dir),
      (r) => (r.code !== 0 ? `exit ${r.code}, expected 0; run folders: ${JSON.stringify(runStatuses(dir))}` : runStatuses(dir).join() !== 'completed' ? `run.json status ${runStatuses(dir)}` : undefined),
      false,
    );
  }, 120_000);

  it('an image with 2 channels is named with its id and reason, before any run folder', async () => {
    const dir = imageProject({ 'dark/two-channels.npy': { data: new Uint8Array(8 * 8 * 2), shape: [8, 8, 2] } });
    await hostileCase(
      SUITE,
      'unusable image (2 channels) named before a run folder',
      train(dir),
      (r) => {
        if (r.code !== 1) return `exit ${r.code}, expected 1`;
        if (!/1 of 7 records cannot be used by model "mobilenet-v2": image has 2 channels; give 1 \(grey\), 3 \(RGB\) or 4 \(RGBA\): images\/dark\/two-channels\.npy/.test(r.stderr)) {
          return 'stderr does not name the record and its reason';
        }
        return noRunFolder(dir) && `${noRunFolder(dir)} (run.json status ${runStatuses(dir)})`;
      },
      false,
    );
  }, 120_000);
});
