import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

// "Every bad input exits before anything is written", proven on the whole working folder:
// `leantune train` runs as a user runs it (the built CLI in its own process, the project
// folder as its current folder, HOME and TMPDIR inside that folder too), and every file
// and folder in it (path, size, mtime, sha256; folders by their entries and mtime, so a
// file created and then removed also shows) must be the same afterwards.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const fixtures = join(__dirname, 'fixtures');

type Snapshot = Record<string, string>;

/** Every entry under `root`: files by size, mtime and content hash; folders by mtime. */
function snapshot(root: string): Snapshot {
  const out: Snapshot = {};
  const walk = (dir: string) => {
    out[`${relative(root, dir) || '.'}/`] = `mtime ${statSync(dir).mtimeMs}`;
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else out[relative(root, path)] = `${st.size} bytes, mtime ${st.mtimeMs}, sha256 ${createHash('sha256').update(readFileSync(path)).digest('hex')}`;
    }
  };
  walk(root);
  return out;
}

/** A project folder with a good config, data and plugin files, and its own home and temp folders. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'lt-writes-nothing-'));
  for (const sub of ['home', 'tmp', 'data', 'plugins']) mkdirSync(join(dir, sub));
  const texts = ['free money now', 'meeting at ten', 'win a prize', 'see the minutes', 'cheap pills', 'lunch tomorrow', 'click here', 'project update'];
  writeFileSync(join(dir, 'data', 'good.jsonl'), texts.map((text, i) => JSON.stringify({ text, label: i % 2 ? 'neg' : 'pos' })).join('\n') + '\n');
  writeFileSync(join(dir, 'data', 'other-labels.jsonl'), texts.map((text, i) => JSON.stringify({ text, label: i % 2 ? 'ham' : 'spam' })).join('\n') + '\n');
  writeFileSync(join(dir, 'data', 'no-labels.jsonl'), texts.map((text) => JSON.stringify({ text })).join('\n') + '\n');
  writeFileSync(join(dir, 'data', 'empty.jsonl'), '');
  // The JSONL reader drops a line that is not JSON (and reports it); here every line is such.
  writeFileSync(join(dir, 'data', 'broken.jsonl'), '{"text": "cut off", "label\n{"text"\n');
  writeFileSync(join(dir, 'plugins', 'throws.js'), "module.exports = { meta: { name: 'throws', version: '1.0.0', core: '*' }, apply() { throw new Error('kaput'); } };");
  writeFileSync(join(dir, 'plugins', 'unparsable.js'), 'module.exports = { meta: {');
  writeFileSync(join(dir, 'plugins', 'future.js'), "module.exports = { meta: { name: 'future', version: '9.0.0', core: '>=5' }, apply() {} };");
  const method = "{ id: 'm', prefix: 'PFX', family: 'selective', configSchema: {}, inject: (x) => x }";
  for (const [file, prefix] of [['m1', 'a_'], ['m2', 'b_']]) {
    writeFileSync(join(dir, 'plugins', `${file}.js`), `module.exports = { meta: { name: '${file}', version: '1.0.0', core: '*' }, apply(c) { c.methods.register(${method.replace('PFX', prefix)}); } };`);
  }
  return dir;
}

const good = {
  name: 'writes-nothing',
  plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }, { name: join(fixtures, 'tiny-data.js'), allowOutside: true }, 'datasets', 'lora'],
  model: 'tiny-text',
  methods: { lora: { r: 4, lora_alpha: 8 } },
  trainable: ['classifier\\..*'],
  data: { name: 'tiny-sentiment', count: 32 },
  train: { epochs: 1, batchSize: 8, learningRate: 0.05 },
  runtime: { backend: 'cpu', seed: 7 },
  output: { dir: 'runs' },
};

/** Writes `config` (an object over the good one, or raw text) into `dir` and runs `leantune train -c` on it there. */
function train(dir: string, config: string | Record<string, unknown>) {
  const file = join(dir, 'leantune.json');
  writeFileSync(file, typeof config === 'string' ? config : JSON.stringify({ ...good, ...config }, null, 2));
  const before = snapshot(dir);
  const env = { ...process.env, HOME: join(dir, 'home'), TMPDIR: join(dir, 'tmp'), XDG_CACHE_HOME: join(dir, 'home', '.cache') };
  const r = spawnSync(process.execPath, [cliBin, 'train', '-c', file, '--quiet'], { cwd: dir, env, encoding: 'utf8' });
  return { code: r.status, err: r.stderr, before, after: snapshot(dir) };
}

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) spawnSync('npx', ['tsc', '-b'], { cwd: repo });
});

interface BadInput {
  what: string;
  config: string | Record<string, unknown>;
  code: number;
  message: RegExp;
}

const plugin = (file: string) => [...good.plugins, `./plugins/${file}.js`];

const BAD_INPUTS: BadInput[] = [
  { what: 'a JSON syntax error', config: '{\n  "model": "tiny-text"\n  "name": "x"\n}', code: 2, message: /leantune\.json:3:3: JSON syntax error/ },
  { what: 'a schema error in the envelope', config: { train: { ...good.train, epochs: 0 } }, code: 2, message: /\/train\/epochs: must be >= 1/ },
  { what: "a schema error in a method's config", config: { methods: { lora: { r: 0 } } }, code: 2, message: /\/methods\/lora\/r: must be >= 1/ },
  { what: 'an unknown key in a method config', config: { methods: { lora: { rank: 4 } } }, code: 2, message: /\/methods\/lora.*rank/ },
  { what: 'a method no plugin registers', config: { methods: { lorax: {} } }, code: 2, message: /lorax/ },
  { what: 'an unknown plugin', config: { plugins: [...good.plugins, 'no-such-plugin'] }, code: 2, message: /Cannot find plugin "no-such-plugin"/ },
  { what: 'a plugin that throws in apply()', config: { plugins: plugin('throws') }, code: 2, message: /Plugin throws@1\.0\.0 failed in apply\(\): kaput/ },
  { what: 'a plugin file that does not parse', config: { plugins: plugin('unparsable') }, code: 2, message: /unparsable\.js/ },
  { what: 'a plugin for another core version', config: { plugins: plugin('future') }, code: 2, message: /requires @leantune\/core >=5/ },
  { what: 'two plugins registering one method id', config: { plugins: [...plugin('m1'), './plugins/m2.js'] }, code: 2, message: /Duplicate method id "m"/ },
  { what: 'an unknown model', config: { model: 'no-such-model' }, code: 2, message: /no-such-model/ },
  { what: 'a missing data file', config: { data: { name: 'jsonl', path: 'data/nowhere.jsonl' } }, code: 1, message: /nowhere\.jsonl/ },
  { what: 'an empty data file', config: { data: { name: 'jsonl', path: 'data/empty.jsonl' } }, code: 1, message: /no training records after its stages/ },
  { what: 'a data file with no valid line', config: { data: { name: 'jsonl', path: 'data/broken.jsonl' } }, code: 1, message: /no training records after its stages/ },
  { what: 'a method that cannot inject (its targets match no module)', config: { methods: { lora: { r: 4, target_modules: ['no_such_layer'] } } }, code: 1, message: /no_such_layer/ },
  // Labels are checked against the classifier before train creates the folder (they used to fail the first batch).
  { what: 'records with a label the model does not have', config: { data: { name: 'jsonl', path: 'data/other-labels.jsonl' } }, code: 1, message: /whose labels are "neg", "pos"; the first, .* has label "(spam|ham)"/ },
  { what: 'records without a label', config: { data: { name: 'jsonl', path: 'data/no-labels.jsonl' } }, code: 1, message: /has no label/ },
  { what: 'warmup as long as the run', config: { train: { ...good.train, schedule: { type: 'linear', warmupSteps: 100 } } }, code: 2, message: /warmup/i },
];


describe('leantune train on bad input leaves the working folder exactly as it was', () => {
  const dir = project();

  it('the snapshot sees what a good run writes (the control)', () => {
    const control = project();
    const r = train(control, { data: { name: 'jsonl', path: 'data/good.jsonl' } });
    expect([r.code, r.err]).toEqual([0, expect.any(String)]);
    expect(Object.keys(r.after).filter((k) => !(k in r.before)).some((k) => k.startsWith('runs/'))).toBe(true);
    expect(r.after).not.toEqual(r.before);
  }, 30_000);

  const writesNothing = ({ config, code, message }: BadInput) => {
    const r = train(dir, config);
    expect(r.err).toMatch(message);
    expect(r.code).toBe(code);
    expect(r.after).toEqual(r.before);
  };
  it.each(BAD_INPUTS)('$what: exit $code, the error named, nothing written', writesNothing, 30_000);
});
