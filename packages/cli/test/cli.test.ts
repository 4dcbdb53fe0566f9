import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '@leantune/cli';

const fixtures = join(__dirname, '..', '..', '..', 'e2e', 'tests', 'test', 'fixtures');
const dir = mkdtempSync(join(tmpdir(), 'lt-cli-'));

async function cli(...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'leantune', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), cwd: dir });
  return { code, out, err };
}

function config(name: string, body: object | string): string {
  const file = join(dir, name);
  writeFileSync(file, typeof body === 'string' ? body : JSON.stringify(body, null, 2));
  return file;
}

describe('leantune CLI exit codes', () => {
  it('0 for a valid config, naming its plugins and methods', async () => {
    const r = await cli('validate', '-c', join(fixtures, 'shift.json'));
    expect(r).toMatchObject({ code: 0, err: '' });
    expect(r.out).toBe(
      `${join(fixtures, 'shift.json')}: valid. Plugins: @acme/leantune-plugin-shift, @leantune/testing-tiny-model, @leantune/testing-tiny-data; methods: shift; model: tiny-text.\n`,
    );
  });

  it('checks each compare arm as compare would: 0 naming the arms, 2 naming the bad arm and its field', async () => {
    const plugin = (file: string) => ({ name: file.startsWith('/') ? file : join(fixtures, file), allowOutside: true });
    const shift = require.resolve('@acme/leantune-plugin-shift', { paths: [fixtures] });
    const body = (arms: unknown[]) => ({
      name: 'arms',
      plugins: [plugin(shift), plugin('tiny-model.js'), plugin('tiny-data.js')],
      model: 'tiny-text',
      methods: { shift: {} },
      data: { name: 'tiny-sentiment' },
      runtime: { backend: 'cpu', seed: 7 },
      compare: { methods: arms },
    });
    const ok = await cli('validate', '-c', config('arms-ok.json', body(['shift', { id: 'shift', label: 'shift-lr', train: { learningRate: 0.1 } }])));
    expect([ok.code, ok.err]).toEqual([0, '']);
    expect(ok.out).toContain('; compare: 2 arms (shift, shift-lr).');
    const badFile = config('arms-bad.json', body(['shift', { id: 'shift', label: 'shift-bad', train: { learningRate: -1 } }]));
    const bad = await cli('validate', '-c', badFile);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain(`${badFile}: compare arm "shift-bad"`);
    expect(bad.err).toContain('/train/learningRate');
  });

  it('0 for --help, which shows an example', async () => {
    const r = await cli('validate', '--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('leantune validate -c leantune.json');
  });

  it('2 for an unknown command or a missing option', async () => {
    expect((await cli('trian')).code).toBe(2);
    const r = await cli('validate');
    expect(r.code).toBe(2);
    expect(r.err).toContain("required option '-c, --config <file>' not specified");
  });

  it('2 for JSON with a syntax error, with line and column', async () => {
    const file = config('syntax.json', '{\n  "model": "tiny-text"\n  "name": "x"\n}');
    const r = await cli('validate', '-c', file);
    expect(r.code).toBe(2);
    expect(r.err).toBe(`leantune: ${file}:3:3: JSON syntax error (CommaExpected). Fix the JSON at that position.\n`);
  });

  it('2 for an unknown plugin, with the names tried', async () => {
    const file = config('unknown.json', { plugins: ['no-such-plugin'], model: 'x' });
    const r = await cli('validate', '-c', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain('Cannot find plugin "no-such-plugin" (plugins[0] in');
    expect(r.err).toContain('Tried: @leantune/plugin-no-such-plugin, leantune-plugin-no-such-plugin');
  });

  it('2 for a plugin that throws in apply, and for a core version mismatch', async () => {
    writeFileSync(join(dir, 'throws.js'), "module.exports = { meta: { name: 'throws', version: '1.0.0', core: '*' }, apply() { throw new Error('kaput'); } };");
    writeFileSync(join(dir, 'future.js'), "module.exports = { meta: { name: 'future', version: '9.0.0', core: '>=5' }, apply() {} };");
    const a = await cli('validate', '-c', config('throws.json', { plugins: ['./throws.js'], model: 'x' }));
    expect(a).toMatchObject({ code: 2, err: expect.stringMatching(/^leantune: Plugin throws@1\.0\.0 failed in apply\(\): kaput\n {4}at .*throws\.js:1:\d+\)?\n/) });
    const b = await cli('validate', '-c', config('future.json', { plugins: ['./future.js'], model: 'x' }));
    expect(b.code).toBe(2);
    expect(b.err).toContain('Plugin future@9.0.0 (plugins[0] in');
    expect(b.err).toContain('requires @leantune/core >=5, but this is @leantune/core 0.1.0');
  });

  it('2 for a duplicate method id across plugins', async () => {
    const method = "{ id: 'm', prefix: 'PFX', family: 'selective', configSchema: {}, inject: (x) => x }";
    writeFileSync(join(dir, 'm1.js'), `module.exports = { meta: { name: 'm1', version: '1.0.0', core: '*' }, apply(c) { c.methods.register(${method.replace('PFX', 'a_')}); } };`);
    writeFileSync(join(dir, 'm2.js'), `module.exports = { meta: { name: 'm2', version: '1.0.0', core: '*' }, apply(c) { c.methods.register(${method.replace('PFX', 'b_')}); } };`);
    const r = await cli('validate', '-c', config('dup.json', { plugins: ['./m1.js', './m2.js'], model: 'x' }));
    expect(r).toMatchObject({ code: 2, err: 'leantune: Duplicate method id "m": registered by m1 and again by m2. Enable only one of them, or rename one method\'s id.\n' });
  });

  it('2 for a schema violation, and writes nothing', async () => {
    const file = config('bad-schema.json', {
      plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }],
      model: 'tiny-text',
      train: { epochs: 0 },
      output: { dir: join(dir, 'must-not-exist') },
    });
    const r = await cli('train', '-c', file);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${file}:10:15: /train/epochs: must be >= 1 (got 0)`);
    expect(existsSync(join(dir, 'must-not-exist'))).toBe(false);
  });

  it('lists what plugins registered, as a table and as JSON', async () => {
    const r = await cli('plugins', '-c', join(fixtures, 'shift.json'), '--json');
    expect(r.code).toBe(0);
    const listed = JSON.parse(r.out);
    // A method that adds no named parameters lists no prefix (acme-prompt: virtual tokens through the model's extension points).
    expect(listed.methods).toEqual([
      { id: 'shift', prefix: 'shift_', family: 'adapter', plugin: '@acme/leantune-plugin-shift' },
      { id: 'acme-prompt', family: 'prompt', plugin: '@acme/leantune-plugin-shift' },
    ]);
    expect(listed.datasetStages).toEqual([{ name: 'lowercase', stage: -990, at: 'clean+10', plugin: '@acme/leantune-plugin-shift' }]);
    expect(listed.modelLoaders[0]).toMatchObject({ name: 'tiny-text', models: ['tiny-text'] });
    const table = await cli('plugins', '-c', join(fixtures, 'shift.json'));
    expect(table.out).toContain('Methods (2):\n  id           prefix  family   plugin\n  shift        shift_  adapter  @acme/leantune-plugin-shift\n  acme-prompt  -       prompt   @acme/leantune-plugin-shift\n');
  });

  it('prints a combined schema that includes each method\'s config schema', async () => {
    const r = await cli('schema', '-c', join(fixtures, 'shift.json'));
    expect(r.code).toBe(0);
    const schema = JSON.parse(r.out);
    expect(schema.properties.methods.properties.shift.properties.target_modules).toEqual({ type: 'array', items: { type: 'string' }, minItems: 1 });
    expect(schema.properties.data.properties.stages.properties.lowercase).toBeDefined();
  });
});
