import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, fixtures, tempDir } from './helpers';

// What a plugin author meets when something goes wrong, through the built CLI as a user runs it.
const repo = join(__dirname, '..', '..', '..');
const cliBin = join(repo, 'packages', 'cli', 'bin', 'leantune.js');
const cwd = tempDir('lt-authors-');
const leantune = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cliBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, LEANTUNE_DEBUG: '', ...env } });

beforeAll(() => {
  if (!existsSync(join(repo, 'packages', 'cli', 'dist', 'main.js'))) execFileSync('npx', ['tsc', '-b'], { cwd: repo });
});

describe('a plugin that throws', () => {
  const plugin = join(cwd, 'boom.js');
  writeFileSync(
    plugin,
    [
      "'use strict';",
      'module.exports = {',
      "  meta: { name: 'boom', version: '1.0.0', core: '*' },",
      '  apply(ctx) {',
      "    if (ctx.options.in === 'apply') throw new Error('kaput in apply');",
      "    ctx.methods.register({ id: 'boom', prefix: 'boom_', family: 'adapter', configSchema: { type: 'object' },",
      "      inject() { throw new Error('kaput in inject'); },",
      '    });',
      '  },',
      '};',
      '',
    ].join('\n'),
  );
  const config = (where: string) => {
    const file = join(cwd, `boom-${where}.json`);
    writeFileSync(file, JSON.stringify({ plugins: [[plugin, { in: where }], { name: join(fixtures, 'tiny-model.js'), allowOutside: true }, { name: join(fixtures, 'tiny-data.js'), allowOutside: true }], model: 'tiny-text', methods: { boom: {} }, data: { name: 'tiny-sentiment' }, runtime: { backend: 'cpu' } }));
    return file;
  };

  it('in apply: the error shows the plugin’s own file:line, and LEANTUNE_DEBUG=1 the whole stack', () => {
    const r = leantune(['validate', '-c', config('apply')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Plugin boom@1.0.0 failed in apply(): kaput in apply\n');
    expect(r.stderr).toContain(`${plugin}:5:`);
    const debug = leantune(['validate', '-c', config('apply')], { LEANTUNE_DEBUG: '1' });
    expect(debug.stderr).toMatch(/caused by: Error: kaput in apply\n\s+at .*boom\.js:5:\d+/);
    expect(debug.stderr).toContain('toolkit.js:');
  });

  it('in inject: the error shows the plugin’s own file:line', () => {
    const r = leantune(['train', '-c', config('inject'), '--quiet']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Method "boom" failed to inject into model "tiny-text": kaput in inject\n');
    expect(r.stderr).toContain(`${plugin}:7:`);
  });
});

describe('names that no enabled plugin provides', () => {
  // A project with @acme/leantune-plugin-vera installed (in its node_modules) but not enabled.
  const project = tempDir('lt-not-enabled-');
  const vera = join(project, 'node_modules', '@acme', 'leantune-plugin-vera');
  mkdirSync(vera, { recursive: true });
  writeFileSync(join(vera, 'package.json'), JSON.stringify({ name: '@acme/leantune-plugin-vera', version: '1.0.0', main: 'index.js' }));
  writeFileSync(
    join(vera, 'index.js'),
    `module.exports = { meta: { name: '@acme/leantune-plugin-vera', version: '1.0.0', core: '*' }, apply(ctx) {
      ctx.methods.register({ id: 'vera', prefix: 'vera_', family: 'reparameterization', configSchema: { type: 'object' }, inject: (m) => m });
      ctx.stages.register({ name: 'vera-clean', stage: 0, run: (d) => d });
      ctx.models.register({ name: 'vera-net', models: ['vera-net'], test: (s) => s.name === 'vera-net', load: async () => { throw new Error('no'); } });
    } };\n`,
  );
  const validate = async (body: object) => {
    const file = join(project, 'leantune.json');
    const base = { plugins: [{ name: join(fixtures, 'tiny-model.js'), allowOutside: true }, { name: join(fixtures, 'tiny-data.js'), allowOutside: true }, 'lora'], model: 'tiny-text', data: { name: 'tiny-sentiment' }, runtime: { backend: 'cpu' } };
    writeFileSync(file, JSON.stringify({ ...base, ...body }, null, 2));
    return cli(project, ['validate', '-c', file]);
  };

  it('an unknown method id that an installed plugin provides: enable that plugin, not "Did you mean lora"', async () => {
    const r = await validate({ methods: { vera: {} } });
    expect(r.code).toBe(2);
    expect(r.err).toContain('/methods/vera: method "vera" is provided by @acme/leantune-plugin-vera, installed but not enabled: add "@acme/vera" to plugins.');
    expect(r.err).not.toContain('Did you mean');
  });

  it('an unknown stage name that an installed plugin provides', async () => {
    const r = await validate({ data: { name: 'tiny-sentiment', stages: { 'vera-clean': {} } } });
    expect(r.code).toBe(2);
    expect(r.err).toContain('/data/stages/vera-clean: stage "vera-clean" is provided by @acme/leantune-plugin-vera, installed but not enabled: add "@acme/vera" to plugins.');
  });

  it('an unknown model name that an installed plugin provides', async () => {
    const r = await validate({ model: 'vera-net' });
    expect(r.code).toBe(2);
    expect(r.err).toContain('/model: No model loader recognised model "vera-net". Loaders asked: tiny-text. The model "vera-net" is provided by @acme/leantune-plugin-vera, installed but not enabled: add "@acme/vera" to plugins.');
  });

  it('validate rejects an unknown model name, at its line', async () => {
    const r = await validate({ model: 'tiny-txt' });
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/leantune\.json:\d+:\d+: \/model: No model loader recognised model "tiny-txt"\. Loaders asked: tiny-text\. Did you mean "tiny-text"\?/);
  });

  it.each([
    ['bert-base-uncased', 'models/bert-base-uncased'],
    ['openai/gpt2', 'models/gpt2'],
  ])('a Hub model name (%s) points to the hf plugin and leantune pull', async (name, folder) => {
    const r = await validate({ model: name });
    expect(r.code).toBe(2);
    expect(r.err).toContain(`"${name}" looks like a Hugging Face Hub model: download it with \`leantune pull ${name} -o ${folder}\`, add "hf" to plugins, and set "model": { "name": "hf", "path": "${folder}" }.`);
  });
});
